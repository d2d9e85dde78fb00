"""Regenerate irflow/data/atlas_ids.yaml from a MITRE ATLAS.yaml (run by hand when ATLAS updates).

    python scripts/derive_atlas_ids.py ../shared/specs/atlas/ATLAS.yaml > irflow/data/atlas_ids.yaml
"""

import sys

import yaml


def main(path: str) -> None:
    doc = yaml.safe_load(open(path, encoding="utf-8"))
    matrix = doc["matrices"][0]
    print(f"# Derived from MITRE ATLAS {doc['version']} by scripts/derive_atlas_ids.py; checked by tests.")
    print(f"version: {doc['version']!r}")
    print("techniques:")
    for tech in sorted(matrix["techniques"], key=lambda t: t["id"]):
        name = tech["name"].replace("'", "''")
        print(f"  {tech['id']}: '{name}'")


if __name__ == "__main__":
    main(sys.argv[1])
