// shoplake on Azure: one resource group with the Flex Consumption function app, its
// host storage, the ADLS Gen2 lake, Event Hubs and monitoring, all reached through one
// user-assigned managed identity (no keys or connection strings anywhere).
// Deployed by `azd up` (azure.yaml); see infra/README.md.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; names the resource group (rg-<env>) and seeds every resource name.')
param environmentName string

@minLength(1)
@description('Region for every resource; it must offer Flex Consumption (az functionapp list-flexconsumption-locations).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of the deployer (azd sets AZURE_PRINCIPAL_ID); it gets Event Hubs send and lake access. Empty: none.')
param principalId string = ''

@description('Kind of principal principalId is (ServicePrincipal when a pipeline deploys).')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param principalType string = 'User'

@description('Python version of the function app.')
@allowed([
  '3.10'
  '3.11'
  '3.12'
  '3.13'
])
param pythonVersion string = '3.11'

@description('Memory of each function instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Most function instances the app scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Partitions of the shop-events hub (fixed once created).')
@minValue(1)
@maxValue(32)
param eventHubPartitionCount int = 4

@description('Days events stay in the hub for replay.')
@minValue(1)
@maxValue(7)
param eventHubRetentionInDays int = 7

@description('Keep Event Hubs SAS keys disabled (Entra ID only). Set false only to use connection strings.')
param eventHubsDisableLocalAuth bool = true

@description('Replication of the lake account.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_RAGRS'
])
param lakeSkuName string = 'Standard_LRS'

@description('Run refreshes and uploads on an Azure Synapse Spark 3.5 pool (REFRESH_RUNNER=synapse; docs/synapse.md). False: the app refreshes the lake itself with DuckDB.')
param synapseEnabled bool = false

@description('Spark pool of the Synapse workspace (SYNAPSE_SPARK_POOL): up to 15 letters and digits.')
@minLength(1)
@maxLength(15)
param synapseSparkPoolName string = 'shoplake'

@description('Fewest nodes of the Spark pool (at least 3).')
@minValue(3)
param synapseSparkMinNodeCount int = 3

@description('Most nodes of the Spark pool.')
@minValue(3)
@maxValue(200)
param synapseSparkMaxNodeCount int = 6

@description('Idle minutes before the Spark pool pauses.')
@minValue(5)
param synapseSparkAutoPauseDelayInMinutes int = 15

@description('Your public IP address, let through the Synapse firewall for `shoplake synapse deploy` and the role script. Empty: Azure services only.')
param synapseClientIpAddress string = ''

// Optional name overrides; empty means the generated <abbreviation><token> name.
param resourceGroupName string = ''
param functionAppName string = ''
param appServicePlanName string = ''
param identityName string = ''
param storageAccountName string = ''
param lakeAccountName string = ''
param eventHubNamespaceName string = ''
param logAnalyticsName string = ''
param applicationInsightsName string = ''
param synapseWorkspaceName string = ''
param synapseStorageAccountName string = ''

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }

var apiName = !empty(functionAppName) ? functionAppName : '${abbrs.webSitesFunctions}api-${resourceToken}'
var deploymentStorageContainerName = 'app-package-${take(apiName, 32)}-${take(toLower(uniqueString(apiName, resourceToken)), 7)}'
var lakeName = !empty(lakeAccountName) ? lakeAccountName : '${abbrs.storageStorageAccounts}lake${resourceToken}'
var lakeContainerName = 'lake'
var lakeRootPath = 'shoplake'
// abfss://lake@<account>.dfs.core.windows.net/shoplake (the suffix follows the cloud).
var lakeUrl = 'abfss://${lakeContainerName}@${lakeName}.dfs.${environment().suffixes.storage}/${lakeRootPath}'
var eventHubName = 'shop-events'
var eventHubConsumerGroup = 'ingest'
// The Synapse pipeline `shoplake synapse deploy` publishes (its default name).
var synapsePipelineName = 'shoplake-refresh'

resource rg 'Microsoft.Resources/resourceGroups@2022-09-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

module identity 'core/security/user-assigned-identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: !empty(identityName) ? identityName : '${abbrs.managedIdentityUserAssignedIdentities}api-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'core/monitor/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: !empty(logAnalyticsName) ? logAnalyticsName : '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: !empty(applicationInsightsName) ? applicationInsightsName : '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
  }
}

// Host storage: AzureWebJobsStorage (host, Event Hubs checkpoints, Durable task hub) and
// the deployment package container.
module storage 'core/storage/storage-account.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: !empty(storageAccountName) ? storageAccountName : '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    containerNames: [
      deploymentStorageContainerName
    ]
  }
}

// The lake: ADLS Gen2 (hierarchical namespace), container `lake`, root path `shoplake`.
module lake 'core/storage/storage-account.bicep' = {
  name: 'lake'
  scope: rg
  params: {
    name: lakeName
    location: location
    tags: tags
    skuName: lakeSkuName
    isHnsEnabled: true
    containerNames: [
      lakeContainerName
    ]
  }
}

module eventHubs 'app/eventhubs.bicep' = {
  name: 'eventhubs'
  scope: rg
  params: {
    name: !empty(eventHubNamespaceName) ? eventHubNamespaceName : '${abbrs.eventHubNamespaces}${resourceToken}'
    location: location
    tags: tags
    eventHubName: eventHubName
    partitionCount: eventHubPartitionCount
    messageRetentionInDays: eventHubRetentionInDays
    consumerGroupName: eventHubConsumerGroup
    disableLocalAuth: eventHubsDisableLocalAuth
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    hostStorageAccountName: storage.outputs.name
    lakeStorageAccountName: lake.outputs.name
    eventHubNamespaceName: eventHubs.outputs.namespaceName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    identityPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
  }
}

// Optional: a Synapse workspace and Spark pool for REFRESH_RUNNER=synapse.
module synapse 'app/synapse.bicep' = if (synapseEnabled) {
  name: 'synapse'
  scope: rg
  params: {
    name: !empty(synapseWorkspaceName) ? synapseWorkspaceName : '${abbrs.synapseWorkspacesAnalyticsWorkspaces}${resourceToken}'
    location: location
    tags: tags
    managedResourceGroupName: '${abbrs.resourcesResourceGroups}${environmentName}-synapse-managed'
    storageAccountName: !empty(synapseStorageAccountName) ? synapseStorageAccountName : '${abbrs.storageStorageAccounts}syn${resourceToken}'
    lakeStorageAccountName: lake.outputs.name
    sparkPoolName: synapseSparkPoolName
    sparkMinNodeCount: synapseSparkMinNodeCount
    sparkMaxNodeCount: synapseSparkMaxNodeCount
    sparkAutoPauseDelayInMinutes: synapseSparkAutoPauseDelayInMinutes
    appPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
    clientIpAddress: synapseClientIpAddress
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: apiName
    planName: !empty(appServicePlanName) ? appServicePlanName : '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
    serviceName: 'api'
    storageAccountName: storage.outputs.name
    deploymentStorageContainerName: deploymentStorageContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    identityId: identity.outputs.resourceId
    identityClientId: identity.outputs.clientId
    lakeUrl: lakeUrl
    lakeBlobServiceUri: lake.outputs.primaryEndpoints.blob
    profilesTableServiceUri: lake.outputs.primaryEndpoints.table
    batchUploadPath: '${lakeContainerName}/${lakeRootPath}/raw/batch'
    eventHubsFullyQualifiedNamespace: eventHubs.outputs.fullyQualifiedNamespace
    eventHubName: eventHubs.outputs.eventHubName
    eventHubConsumerGroup: eventHubs.outputs.consumerGroupName
    pythonVersion: pythonVersion
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    refreshRunner: synapseEnabled ? 'synapse' : 'local'
    synapseEndpoint: synapseEnabled ? synapse.outputs.devEndpoint : ''
    synapsePipeline: synapseEnabled ? synapsePipelineName : ''
    synapseJobFolder: synapseEnabled ? synapse.outputs.jobFolder : ''
  }
  // Grant the identity its roles first, so the app's first start can read its package,
  // host storage and the hub.
  dependsOn: [
    rbac
  ]
}

// azd stores these in .azure/<env>/.env (azd env get-values).
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_NAME string = api.outputs.SERVICE_API_NAME
output AZURE_FUNCTION_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output AZURE_FUNCTION_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output SERVICE_API_NAME string = api.outputs.SERVICE_API_NAME
output SERVICE_API_URI string = api.outputs.SERVICE_API_URI
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output LAKE_ACCOUNT_NAME string = lake.outputs.name
output LAKE_URL string = lakeUrl
output EVENTHUB_NAMESPACE string = eventHubs.outputs.namespaceName
output EVENTHUB_CONNECTION__fullyQualifiedNamespace string = eventHubs.outputs.fullyQualifiedNamespace
output EVENTHUB_NAME string = eventHubs.outputs.eventHubName
output EVENTHUB_CONSUMER_GROUP string = eventHubs.outputs.consumerGroupName
// Synapse (empty when synapseEnabled is false): `shoplake synapse deploy` and
// infra/scripts/synapse-roles.sh read these.
output REFRESH_RUNNER string = synapseEnabled ? 'synapse' : 'local'
output SYNAPSE_WORKSPACE_NAME string = synapseEnabled ? synapse.outputs.workspaceName : ''
output SYNAPSE_ENDPOINT string = synapseEnabled ? synapse.outputs.devEndpoint : ''
output SYNAPSE_PIPELINE string = synapseEnabled ? synapsePipelineName : ''
output SYNAPSE_SPARK_POOL string = synapseEnabled ? synapse.outputs.sparkPoolName : ''
output SYNAPSE_JOB_FOLDER string = synapseEnabled ? synapse.outputs.jobFolder : ''
