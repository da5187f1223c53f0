// Event Hubs: the namespace, the `shop-events` hub the storefront publishes to, and the
// consumer group the ingest_events trigger reads with. Local (SAS key) auth is off by
// default: producers and the trigger authenticate with Entra ID.

@description('Namespace name: 6-50 letters, digits and hyphens, starting with a letter.')
param name string

@description('Azure region.')
param location string

@description('Tags for the namespace.')
param tags object = {}

@description('Throughput units of the Standard namespace.')
@minValue(1)
@maxValue(40)
param capacity int = 1

@description('Event hub name.')
param eventHubName string = 'shop-events'

@description('Partitions: the most trigger instances that read in parallel. Fixed once created on Standard.')
@minValue(1)
@maxValue(32)
param partitionCount int = 4

@description('Days events stay readable, so a batch can be replayed (Standard: 1-7).')
@minValue(1)
@maxValue(7)
param messageRetentionInDays int = 7

@description('Consumer group of the ingest_events trigger.')
param consumerGroupName string = 'ingest'

@description('Disable SAS keys and connection strings (Entra ID only).')
param disableLocalAuth bool = true

resource eventHubNamespace 'Microsoft.EventHub/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
    capacity: capacity
  }
  properties: {
    disableLocalAuth: disableLocalAuth
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

resource eventHub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' = {
  parent: eventHubNamespace
  name: eventHubName
  properties: {
    partitionCount: partitionCount
    messageRetentionInDays: messageRetentionInDays
  }
}

resource consumerGroup 'Microsoft.EventHub/namespaces/eventhubs/consumergroups@2024-01-01' = {
  parent: eventHub
  name: consumerGroupName
  properties: {}
}

// serviceBusEndpoint is 'https://<namespace>.servicebus.windows.net:443/' in the public
// cloud; the trigger and the SDK want the bare host.
var namespaceHost = split(split(replace(eventHubNamespace.properties.serviceBusEndpoint, 'https://', ''), ':')[0], '/')[0]

output namespaceName string = eventHubNamespace.name
output namespaceId string = eventHubNamespace.id
output fullyQualifiedNamespace string = namespaceHost
output eventHubName string = eventHub.name
output consumerGroupName string = consumerGroup.name
