"""Imports from other CRMs: Pipedrive, HubSpot, amoCRM / Kommo deals exports and generic CSV.

- `reading`: size limit, encoding and delimiter detection, rows with their line numbers;
- `profiles`: each CRM's column names for the fields Conveyor imports, and the mapping;
- `values`: cell parsers (amounts, dates, statuses, phones, e-mails);
- `planning`: the dry run, what each row would do (create / already imported / refused);
- `writing`: the bulk writes of a plan;
- `report`: the CSV of rejected rows;
- `services`: `crm_import_plan` and `crm_import_run`, what the command and the web page call.
"""
