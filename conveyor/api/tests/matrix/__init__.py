"""The API permission matrix, one module per area (`records`, `process`, `team`, `automation`,
`intake`). Each area module has:

- `CASES`: `{"VERB /path/{id}": (call, {role: status})}`, one entry per documented operation;
- `MODELS`: the models whose rows a refused write in this area must leave exactly as they were;
- `build(cast, world)`: makes the area's records (kept in `world.extra`) before each case.

`test_permission_matrix.py` merges them and checks that every operation in the schema has a case.
"""
