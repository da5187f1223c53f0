// Role assignments: everything the function app's identity may do, and (optionally) what
// the developer who runs `azd up` may do to try the deployment out.
//
// Built-in role definition ids (the same in every tenant; see the Azure built-in roles
// reference):
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // Storage Queue Data Contributor
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Storage Table Data Contributor
  eventHubsDataReceiver: 'a638d3c7-ab3a-418d-83e6-5f17a39d4fde' // Azure Event Hubs Data Receiver
  eventHubsDataSender: '2b629674-e913-4c01-ae53-ef4638d8f975' // Azure Event Hubs Data Sender
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb' // Monitoring Metrics Publisher
}

@description('Host storage account (AzureWebJobsStorage, deployment packages, Durable task hub).')
param hostStorageAccountName string

@description('ADLS Gen2 lake account.')
param lakeStorageAccountName string

@description('Event Hubs namespace.')
param eventHubNamespaceName string

@description('Application Insights component.')
param applicationInsightsName string

@description('Principal (object) id of the function app\'s user-assigned identity.')
param identityPrincipalId string

@description('Object id of the person or service principal running the deployment; empty grants nothing.')
param userPrincipalId string = ''

@description('Kind of principal userPrincipalId is.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param userPrincipalType string = 'User'

// Host account: blobs (host locks, Event Hubs checkpoints, deployment package, Durable
// large messages), queues (Durable control/work-item queues) and tables (Durable history
// and instances).
var hostStorageRoles = [
  roles.storageBlobDataOwner
  roles.storageQueueDataContributor
  roles.storageTableDataContributor
]

// Lake: every zone's files and Delta tables; tables for live profiles.
var lakeStorageRoles = [
  roles.storageBlobDataOwner
  roles.storageTableDataContributor
]

// Namespace: the trigger receives; the app may also publish (e.g. replays, simulator).
var eventHubsRoles = [
  roles.eventHubsDataReceiver
  roles.eventHubsDataSender
]

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: hostStorageAccountName
}

resource lakeStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: lakeStorageAccountName
}

resource eventHubNamespace 'Microsoft.EventHub/namespaces@2024-01-01' existing = {
  name: eventHubNamespaceName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource hostStorageAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in hostStorageRoles: {
    name: guid(hostStorage.id, identityPrincipalId, roleId)
    scope: hostStorage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      principalId: identityPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource lakeStorageAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in lakeStorageRoles: {
    name: guid(lakeStorage.id, identityPrincipalId, roleId)
    scope: lakeStorage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      principalId: identityPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource eventHubsAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in eventHubsRoles: {
    name: guid(eventHubNamespace.id, identityPrincipalId, roleId)
    scope: eventHubNamespace
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      principalId: identityPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource monitoringAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, identityPrincipalId, roles.monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The deployer: send test events and read or upload lake files from a laptop
// (`az login` + DefaultAzureCredential).
resource userLakeAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId)) {
  name: guid(lakeStorage.id, userPrincipalId, roles.storageBlobDataOwner)
  scope: lakeStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: userPrincipalId
    principalType: userPrincipalType
  }
}

resource userEventHubsAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId)) {
  name: guid(eventHubNamespace.id, userPrincipalId, roles.eventHubsDataSender)
  scope: eventHubNamespace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.eventHubsDataSender)
    principalId: userPrincipalId
    principalType: userPrincipalType
  }
}
