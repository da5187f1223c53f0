// Azure Synapse for REFRESH_RUNNER=synapse: a workspace with its own ADLS Gen2 storage (the
// workspace's default data lake, which also holds the Spark job's files) and one Spark 3.5
// pool that runs shoplake's Spark job. Deployed only when main.bicep's synapseEnabled is
// true. The job definition and pipeline are not ARM resources: `shoplake synapse deploy`
// publishes them (infra/synapse/), and infra/scripts/synapse-roles.sh grants the Synapse
// data-plane roles, which ARM cannot.

@description('Workspace name: globally unique, lowercase letters, digits and hyphens.')
param name string

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object = {}

@description('Resource group Synapse creates and manages for the workspace.')
param managedResourceGroupName string

@description('ADLS Gen2 account for the workspace (its default data lake and the job folder).')
param storageAccountName string

@description('Container (file system) of the workspace in storageAccountName.')
param fileSystemName string = 'synapse'

@description('Folder under fileSystemName for the Spark job\'s files (job.py, the package zip).')
param jobFolderPath string = 'shoplake/jobs'

@description('The lake account the Spark job reads and writes.')
param lakeStorageAccountName string

@description('Spark pool name: up to 15 letters and digits, starting with a letter.')
@minLength(1)
@maxLength(15)
param sparkPoolName string = 'shoplake'

@description('Fewest nodes of the pool (Synapse needs at least 3).')
@minValue(3)
param sparkMinNodeCount int = 3

@description('Most nodes of the pool.')
@minValue(3)
@maxValue(200)
param sparkMaxNodeCount int = 6

@description('Idle minutes before the pool pauses (paused pools cost nothing).')
@minValue(5)
param sparkAutoPauseDelayInMinutes int = 15

@description('Principal (object) id of the function app\'s identity: it starts pipeline runs.')
param appPrincipalId string

@description('Object id of whoever runs `azd up`: the workspace\'s first Synapse Administrator, who uploads the job. Empty: none.')
param userPrincipalId string = ''

@description('Kind of principal userPrincipalId is.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param userPrincipalType string = 'User'

@description('A public IP address allowed to reach the workspace (the deployer\'s, for `shoplake synapse deploy` and synapse-roles.sh). Empty: Azure services only.')
param clientIpAddress string = ''

// Built-in role: Storage Blob Data Contributor (the same id in every tenant).
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

module storage '../core/storage/storage-account.bicep' = {
  name: 'synapse-storage'
  params: {
    name: storageAccountName
    location: location
    tags: tags
    isHnsEnabled: true
    containerNames: [
      fileSystemName
    ]
  }
}

resource workspaceStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource lakeStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: lakeStorageAccountName
}

resource workspace 'Microsoft.Synapse/workspaces@2021-06-01' = {
  name: name
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    defaultDataLakeStorage: {
      accountUrl: 'https://${storageAccountName}.dfs.${environment().suffixes.storage}'
      filesystem: fileSystemName
      resourceId: storage.outputs.resourceId
    }
    managedResourceGroupName: managedResourceGroupName
    // Entra ID only: the SQL login below is required by the API but cannot sign in.
    azureADOnlyAuthentication: true
    sqlAdministratorLogin: 'sqladminuser'
    cspWorkspaceAdminProperties: !empty(userPrincipalId) ? {
      initialWorkspaceAdminObjectId: userPrincipalId
    } : null
    publicNetworkAccess: 'Enabled'
    trustedServiceBypassEnabled: true
  }
}

// The function app (Flex Consumption, no fixed outbound addresses) reaches the dev endpoint
// as an Azure service; 0.0.0.0-0.0.0.0 is how Synapse spells "allow Azure services".
resource allowAzureServices 'Microsoft.Synapse/workspaces/firewallRules@2021-06-01' = {
  parent: workspace
  name: 'AllowAllWindowsAzureIps'
  properties: {
    startIpAddress: '0.0.0.0'
    endIpAddress: '0.0.0.0'
  }
}

resource allowClient 'Microsoft.Synapse/workspaces/firewallRules@2021-06-01' = if (!empty(clientIpAddress)) {
  parent: workspace
  name: 'AllowDeployer'
  properties: {
    startIpAddress: clientIpAddress
    endIpAddress: clientIpAddress
  }
}

resource sparkPool 'Microsoft.Synapse/workspaces/bigDataPools@2021-06-01' = {
  parent: workspace
  name: sparkPoolName
  location: location
  tags: tags
  properties: {
    // Spark 3.5: Python 3.11, Java 17, Delta 3.2. The 3.4 runtime's Python 3.10 cannot run
    // shoplake (tomllib, StrEnum, datetime.UTC).
    sparkVersion: '3.5'
    nodeSize: 'Small'
    nodeSizeFamily: 'MemoryOptimized'
    autoScale: {
      enabled: true
      minNodeCount: sparkMinNodeCount
      maxNodeCount: sparkMaxNodeCount
    }
    autoPause: {
      enabled: true
      delayInMinutes: sparkAutoPauseDelayInMinutes
    }
    dynamicExecutorAllocation: {
      enabled: true
      minExecutors: 1
      maxExecutors: sparkMaxNodeCount - 1
    }
    // The job's Python packages, pinned as in the repository's requirements.txt.
    libraryRequirements: {
      filename: 'requirements.txt'
      content: loadTextContent('../synapse/requirements.txt')
    }
    sessionLevelPackagesEnabled: false
  }
}

// The workspace identity runs the Spark job: it reads the job's files from its own storage
// and reads and writes the lake.
resource workspaceOnLake 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(lakeStorage.id, workspace.id, storageBlobDataContributor)
  scope: lakeStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: workspace.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource workspaceOnStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspaceStorage.id, workspace.id, storageBlobDataContributor)
  scope: workspaceStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: workspace.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// The function app's identity: files it hands to Synapse runs live in the workspace storage.
resource appOnStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspaceStorage.id, appPrincipalId, storageBlobDataContributor)
  scope: workspaceStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
  // The account comes from a module: wait for it.
  dependsOn: [
    storage
  ]
}

// The deployer uploads the job's files (`shoplake synapse deploy`).
resource userOnStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId)) {
  name: guid(workspaceStorage.id, userPrincipalId, storageBlobDataContributor)
  scope: workspaceStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: userPrincipalId
    principalType: userPrincipalType
  }
  // The account comes from a module: wait for it.
  dependsOn: [
    storage
  ]
}

output workspaceName string = workspace.name
output devEndpoint string = workspace.properties.connectivityEndpoints.dev
output sparkPoolName string = sparkPool.name
output storageAccountName string = storage.outputs.name
output jobFolder string = 'abfss://${fileSystemName}@${storageAccountName}.dfs.${environment().suffixes.storage}/${jobFolderPath}'
