"""Session fixtures for the project's Service Bus emulator (filled in with the emulator)."""
