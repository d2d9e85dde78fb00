"""Built-in runbooks (Markdown data); this file only makes the folder a package so it ships in the wheel."""
