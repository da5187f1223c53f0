// The shoplake function app: the Flex Consumption host plus shoplake's own settings,
// which shared/settings.py reads (see infra/README.md for the full table).

@description('Function app name.')
param name string

@description('Flex Consumption plan name.')
param planName string

@description('Azure region.')
param location string

@description('Tags for the plan and the app.')
param tags object = {}

@description('azd service name (azure.yaml).')
param serviceName string = 'api'

@description('Host storage account (AzureWebJobsStorage, deployment packages).')
param storageAccountName string

@description('Deployment package container in the host storage account.')
param deploymentStorageContainerName string

@description('Application Insights component name.')
param applicationInsightsName string

@description('Resource id of the user-assigned identity.')
param identityId string

@description('Client id of the user-assigned identity.')
param identityClientId string

@description('Lake root, abfss://<container>@<account>.dfs.<suffix>/<path>.')
param lakeUrl string

@description('Blob endpoint of the lake account, https://<account>.blob.<suffix>/.')
param lakeBlobServiceUri string

@description('Table endpoint of the lake account, https://<account>.table.<suffix>/ (live shopper profiles).')
param profilesTableServiceUri string

@description('Where uploads land: <container>/<root path>/raw/batch (the blob trigger watches <this>/{dataset}/{name}).')
param batchUploadPath string

@description('Event Hubs namespace host, <namespace>.servicebus.windows.net.')
param eventHubsFullyQualifiedNamespace string

@description('Event hub the ingest_events trigger reads.')
param eventHubName string

@description('Consumer group of the ingest_events trigger.')
param eventHubConsumerGroup string

@description('Authorization level of the HTTP API.')
@allowed([
  'anonymous'
  'function'
  'admin'
])
param httpAuthLevel string = 'function'

@description('Largest accepted event body in bytes (larger ones are quarantined).')
@minValue(1)
param maxEventBytes int = 32768

@description('Largest POST /api/events body in bytes (larger requests get 413).')
@minValue(1)
param maxRequestBytes int = 4194304

@description('Python version of the worker.')
@allowed([
  '3.10'
  '3.11'
  '3.12'
  '3.13'
])
param pythonVersion string = '3.11'

@description('Memory of each instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Most instances the app scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Who runs the refresh: local (the app, DuckDB) or synapse (a Synapse pipeline run).')
@allowed([
  'local'
  'synapse'
])
param refreshRunner string = 'local'

@description('Synapse workspace dev endpoint, https://<workspace>.dev.azuresynapse.net (empty: no Synapse).')
param synapseEndpoint string = ''

@description('Synapse pipeline that runs the Spark job.')
param synapsePipeline string = ''

@description('Folder of the Spark job\'s files, abfss://<container>@<account>.dfs.<suffix>/<path>.')
param synapseJobFolder string = ''

@description('Extra app settings, merged over the shoplake settings below.')
param extraAppSettings object = {}

var shoplakeSettings = {
  // azure-identity's DefaultAzureCredential picks the user-assigned identity by this id.
  AZURE_CLIENT_ID: identityClientId
  LAKE_URL: lakeUrl
  // Identity-based connection `EVENTHUB_CONNECTION` of the ingest_events trigger.
  EVENTHUB_CONNECTION__fullyQualifiedNamespace: eventHubsFullyQualifiedNamespace
  EVENTHUB_CONNECTION__credential: 'managedidentity'
  EVENTHUB_CONNECTION__clientId: identityClientId
  EVENTHUB_NAME: eventHubName
  EVENTHUB_CONSUMER_GROUP: eventHubConsumerGroup
  // Identity-based connection `LAKE_STORAGE` of the on_batch_file blob trigger.
  LAKE_STORAGE__blobServiceUri: lakeBlobServiceUri
  LAKE_STORAGE__credential: 'managedidentity'
  LAKE_STORAGE__clientId: identityClientId
  BATCH_UPLOAD_PATH: batchUploadPath
  // Live shopper profiles: Table Storage in the lake account, reached with the identity.
  PROFILES_CONNECTION__tableServiceUri: profilesTableServiceUri
  HTTP_AUTH_LEVEL: httpAuthLevel
  MAX_EVENT_BYTES: string(maxEventBytes)
  MAX_REQUEST_BYTES: string(maxRequestBytes)
  // EASE's fit peaks at about 40 bytes x items squared: keep it within the
  // instance's memory, larger catalogues train the factors model.
  RECOMMENDER_EASE_MAX_ITEMS: instanceMemoryMB >= 4096 ? '8000' : '5000'
  // The nightly_timer trigger reads %NIGHTLY_SCHEDULE% (NCRONTAB, UTC): 02:00 every day.
  NIGHTLY_SCHEDULE: '0 0 2 * * *'
  REFRESH_RUNNER: refreshRunner
}

// Synapse runs (REFRESH_RUNNER=synapse) start the pipeline through the dev endpoint with
// the same identity (AZURE_CLIENT_ID); see docs/synapse.md.
var synapseSettings = empty(synapseEndpoint) ? {} : {
  SYNAPSE_ENDPOINT: synapseEndpoint
  SYNAPSE_PIPELINE: synapsePipeline
  SYNAPSE_JOB_FOLDER: synapseJobFolder
}

module functionApp '../core/host/functions-flexconsumption.bicep' = {
  name: '${serviceName}-flex-consumption'
  params: {
    name: name
    planName: planName
    location: location
    tags: tags
    serviceName: serviceName
    storageAccountName: storageAccountName
    deploymentStorageContainerName: deploymentStorageContainerName
    identityId: identityId
    identityClientId: identityClientId
    applicationInsightsName: applicationInsightsName
    pythonVersion: pythonVersion
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    appSettings: union(shoplakeSettings, synapseSettings, extraAppSettings)
  }
}

output SERVICE_API_NAME string = functionApp.outputs.name
output SERVICE_API_URI string = 'https://${functionApp.outputs.defaultHostName}'
