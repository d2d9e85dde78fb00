"""Sample alerts for `irflow demo` (data); this file makes the folder ship in the wheel."""
