"""The `fontgen` and `drumgen` commands (torch-free)."""
