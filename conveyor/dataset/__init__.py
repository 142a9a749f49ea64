"""The dataset format of DESIGN §5: the bulk importer, the generator, and the demo company.

An interface package (like web/): it reads and writes every domain app's tables in bulk.
"""
