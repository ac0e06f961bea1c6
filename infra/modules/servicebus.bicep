// The Service Bus namespace and its entities. Local (SAS key) authentication is disabled: the
// function apps connect with their managed identities and data roles scoped to the entities
// each one uses (roles.bicep), so no connection string with a key exists anywhere.
//
// The entities are the ones the jobs library uses by default (tests/unit/test_infra.py checks
// names, and that requiresSession matches how the code sends and receives):
//   orders      shared/ordering/servicebus.py DEFAULT_QUEUE: ServiceBusOrdering reads it with a
//               plain receiver and defers early messages, so it must NOT require sessions.
//   replies     shared/results/reply.py DEFAULT_REPLY_QUEUE: ServiceBusReplySender always sets
//               a SessionId, so each requester receives only its own replies (sessions).
//   job-events  shared/results/events.py DEFAULT_EVENTS: ServiceBusEventPublisher's topic.
//
// A definition overrides only the properties it names; the rest come from entityDefaults.
// requiresSession and requiresDuplicateDetection cannot be changed on an existing entity:
// changing them means a new entity name.
//
// The entity parameters are plain arrays of objects (not user-defined types) so that every
// scanner in `make test` (checkov's Bicep parser included) reads this file.

@description('Namespace name: 6-50 letters, digits and hyphens, starting with a letter and ending with a letter or digit, globally unique.')
@minLength(6)
@maxLength(50)
param name string

@description('Azure region of the namespace.')
param location string

@description('Tags applied to the namespace.')
param tags object

@description('Standard, or Premium (dedicated capacity; required for private endpoints). Basic has no topics, sessions or duplicate detection, which the jobs need.')
@allowed([
  'Standard'
  'Premium'
])
param sku string = 'Standard'

@description('Disabled: reachable only through a private endpoint (Premium only; network.bicep).')
@allowed([
  'Enabled'
  'Disabled'
])
param publicNetworkAccess string

@description('Most deliveries of a message before it is dead-lettered, for every entity that does not set its own. main.bicep passes host.json extensions.queues.maxDequeueCount so Service Bus and Storage queue messages get the same number of tries.')
@minValue(1)
@maxValue(2000)
param maxDeliveryCount int = 5

@description('Queues to create: objects with name and any of requiresSession, requiresDuplicateDetection, duplicateDetectionHistoryTimeWindow, maxDeliveryCount, lockDuration, defaultMessageTimeToLive, deadLetteringOnMessageExpiration.')
param queues array

@description('Topics to create: objects with name and any of requiresDuplicateDetection, duplicateDetectionHistoryTimeWindow, defaultMessageTimeToLive.')
param topics array

@description('Topic subscriptions to create: objects with topic, name and any of requiresSession, maxDeliveryCount, lockDuration, defaultMessageTimeToLive, deadLetteringOnMessageExpiration. A topic without subscriptions discards what it receives.')
param subscriptions array

@description('Resource ID of the Log Analytics workspace that receives the diagnostic settings.')
param workspaceId string

// Defaults for every property an entity definition leaves out.
var entityDefaults = {
  // The peek-lock; the Functions trigger renews it while a function runs, up to host.json
  // extensions.serviceBus.maxAutoLockRenewalDuration (which is functionTimeout).
  lockDuration: 'PT1M'
  maxDeliveryCount: maxDeliveryCount
  // Senders retry on timeouts, so the same MessageId can arrive twice; the broker drops the
  // copy within the window (the idempotency ledger covers longer gaps).
  requiresDuplicateDetection: true
  duplicateDetectionHistoryTimeWindow: 'PT10M'
  requiresSession: false
  // Longer than maxDeliveryCount tries of functionTimeout each, so a message is never lost to
  // expiry while it is being retried.
  defaultMessageTimeToLive: 'P14D'
  // Expired work is kept for inspection and replay rather than silently lost.
  deadLetteringOnMessageExpiration: true
}

var queueDefinitions = [for queue in queues: union(entityDefaults, queue)]
var topicDefinitions = [for topic in topics: union(entityDefaults, topic)]
var subscriptionDefinitions = [for subscription in subscriptions: union(entityDefaults, subscription)]

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: sku
    tier: sku
    capacity: sku == 'Premium' ? 1 : null
  }
  properties: {
    // Microsoft Entra ID only: SAS keys and connection strings are refused.
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: publicNetworkAccess
  }
}

resource serviceBusQueues 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = [for queue in queueDefinitions: {
  parent: namespace
  name: queue.name
  properties: {
    requiresSession: queue.requiresSession
    requiresDuplicateDetection: queue.requiresDuplicateDetection
    duplicateDetectionHistoryTimeWindow: queue.duplicateDetectionHistoryTimeWindow
    maxDeliveryCount: queue.maxDeliveryCount
    lockDuration: queue.lockDuration
    defaultMessageTimeToLive: queue.defaultMessageTimeToLive
    deadLetteringOnMessageExpiration: queue.deadLetteringOnMessageExpiration
    enableBatchedOperations: true
  }
}]

resource serviceBusTopics 'Microsoft.ServiceBus/namespaces/topics@2024-01-01' = [for topic in topicDefinitions: {
  parent: namespace
  name: topic.name
  properties: {
    requiresDuplicateDetection: topic.requiresDuplicateDetection
    duplicateDetectionHistoryTimeWindow: topic.duplicateDetectionHistoryTimeWindow
    defaultMessageTimeToLive: topic.defaultMessageTimeToLive
    enableBatchedOperations: true
  }
}]

resource serviceBusSubscriptions 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2024-01-01' = [for subscription in subscriptionDefinitions: {
  // The parent topic comes from another loop and is chosen by name, so `parent:` cannot name
  // it: the full child name is spelled out and the dependency on the topics made explicit.
  name: '${namespace.name}/${subscription.topic}/${subscription.name}'
  dependsOn: [
    serviceBusTopics
  ]
  properties: {
    requiresSession: subscription.requiresSession
    maxDeliveryCount: subscription.maxDeliveryCount
    lockDuration: subscription.lockDuration
    defaultMessageTimeToLive: subscription.defaultMessageTimeToLive
    deadLetteringOnMessageExpiration: subscription.deadLetteringOnMessageExpiration
    // A message a subscription rule cannot evaluate is kept for inspection, not lost.
    deadLetteringOnFilterEvaluationExceptions: true
    enableBatchedOperations: true
  }
}]

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: namespace
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

@description('Name of the namespace (the scope of the Service Bus role assignments).')
output name string = namespace.name

@description('Resource ID of the namespace.')
output id string = namespace.id

@description('Host name of the namespace, e.g. myns.servicebus.windows.net: the value of <connection>__fullyQualifiedNamespace settings.')
output fullyQualifiedNamespace string = replace(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), ':443/', '')
