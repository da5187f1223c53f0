// A general-purpose v2 storage account with shared-key access off (Entra ID only) and
// private blob containers. With isHnsEnabled it is an ADLS Gen2 account (the lake).

@description('Globally unique account name: 3-24 lowercase letters and digits.')
param name string

@description('Azure region.')
param location string

@description('Tags for the account.')
param tags object = {}

@description('Replication.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_RAGRS'
])
param skuName string = 'Standard_LRS'

@description('Hierarchical namespace: true makes this an ADLS Gen2 (abfss://) account.')
param isHnsEnabled bool = false

@description('Allow account-key (shared key) access. Off: every client uses Entra ID.')
param allowSharedKeyAccess bool = false

@description('Names of the private blob containers to create.')
param containerNames array = []

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: allowSharedKeyAccess
    dnsEndpointType: 'Standard'
    isHnsEnabled: isHnsEnabled
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource blobServices 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for containerName in containerNames: {
    parent: blobServices
    name: containerName
    properties: {
      publicAccess: 'None'
    }
  }
]

output name string = storage.name
output resourceId string = storage.id
output primaryEndpoints object = storage.properties.primaryEndpoints
