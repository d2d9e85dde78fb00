"""Built-in playbooks (YAML data); this file only makes the folder a package so it ships in the wheel."""
