-- Generated from shoplake/serverless_sql.py by `shoplake synapse sql --write`: do not edit.
-- Who may read the views: members of shoplake_readers (docs/power-bi.md adds them). They
-- read through the credential, so they need no role on the storage account.
USE shoplake;
GO
IF DATABASE_PRINCIPAL_ID(N'shoplake_readers') IS NULL
    CREATE ROLE shoplake_readers;
GO
GRANT SELECT ON SCHEMA::dbo TO shoplake_readers;
GRANT REFERENCES ON DATABASE SCOPED CREDENTIAL::WorkspaceIdentity TO shoplake_readers;
GO
