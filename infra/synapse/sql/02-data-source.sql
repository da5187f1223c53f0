-- Generated from shoplake/serverless_sql.py by `shoplake synapse sql --write`: do not edit.
-- How the views reach the lake: as the workspace's managed identity, which holds a data
-- role on the lake account (infra/app/synapse.bicep). A database scoped credential
-- needs a master key; its random password is never needed again.
USE shoplake;
GO
IF NOT EXISTS (SELECT 1 FROM sys.symmetric_keys WHERE name = '##MS_DatabaseMasterKey##')
BEGIN
    DECLARE @create_key NVARCHAR(MAX) = N'CREATE MASTER KEY ENCRYPTION BY PASSWORD = '''
        + CAST(NEWID() AS NVARCHAR(36)) + N'''';
    EXEC sp_executesql @create_key;
END;
GO
IF NOT EXISTS (SELECT 1 FROM sys.database_scoped_credentials WHERE name = 'WorkspaceIdentity')
    CREATE DATABASE SCOPED CREDENTIAL WorkspaceIdentity WITH IDENTITY = 'Managed Identity';
GO
-- Another lake (LAKE_URL changed): the data source is created anew.
IF EXISTS (SELECT 1 FROM sys.external_data_sources WHERE name = 'shoplake_curated'
           AND location <> N'${LAKE_CURATED_URL}')
    DROP EXTERNAL DATA SOURCE shoplake_curated;
GO
IF NOT EXISTS (SELECT 1 FROM sys.external_data_sources WHERE name = 'shoplake_curated')
    CREATE EXTERNAL DATA SOURCE shoplake_curated
    WITH (LOCATION = N'${LAKE_CURATED_URL}', CREDENTIAL = WorkspaceIdentity);
GO
