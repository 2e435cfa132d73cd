"""Reference data: the FINESS registry."""
