"""The verifiable log: audit events as the leaves of one RFC 9162 Merkle tree, and checkpoints
signed as C2SP signed notes that anyone can check with the log's public key."""
