"""Usage-indicator service of the ESMS Numérique programme."""
