"""The configuration: reading files safely, the settings model, and its error messages."""
