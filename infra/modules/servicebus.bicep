// The Service Bus namespace and its entities. Local (SAS key) authentication is disabled: the
// function apps connect with their managed identities (roles.bicep), so no connection string
// with a key exists anywhere.
//
// Each entity property a queue definition leaves out takes the default below. Two of them
// cannot be changed once the entity exists (requiresSession, requiresDuplicateDetection):
// changing them means a new entity name.

@description('Namespace name: 6-50 letters, digits and hyphens, starting with a letter, globally unique.')
@minLength(6)
@maxLength(50)
param name string

@description('Azure region of the namespace.')
param location string

@description('Tags applied to the namespace.')
param tags object

@description('Standard, or Premium (dedicated messaging units, VNet, larger messages). Basic has no topics, sessions or duplicate detection, which the jobs need.')
@allowed([
  'Standard'
  'Premium'
])
param sku string = 'Standard'

@description('A Service Bus queue. Properties left out take the module defaults.')
type queueDefinition = {
  @description('Queue name.')
  name: string

  @description('Messages with the same SessionId are delivered in order to one receiver at a time, with session state (SetState/GetState). Fixed at creation.')
  requiresSession: bool?

  @description('Drop a message whose MessageId was already seen within the history window. Fixed at creation.')
  requiresDuplicateDetection: bool?

  @description('Duplicate detection window, ISO 8601 duration (PT20S to P7D).')
  duplicateDetectionHistoryTimeWindow: string?

  @description('Deliveries before the broker moves a message to the dead-letter queue.')
  maxDeliveryCount: int?

  @description('Peek-lock duration, ISO 8601 (PT5S to PT5M). The Functions trigger renews the lock while the function runs.')
  lockDuration: string?

  @description('Time to live of messages that do not set their own, ISO 8601.')
  defaultMessageTimeToLive: string?

  @description('Move expired messages to the dead-letter queue instead of dropping them.')
  deadLetteringOnMessageExpiration: bool?
}

@description('A Service Bus topic. Properties left out take the module defaults.')
type topicDefinition = {
  @description('Topic name.')
  name: string

  @description('Drop a message whose MessageId was already seen within the history window. Fixed at creation.')
  requiresDuplicateDetection: bool?

  @description('Duplicate detection window, ISO 8601 duration (PT20S to P7D).')
  duplicateDetectionHistoryTimeWindow: string?

  @description('Time to live of messages that do not set their own, ISO 8601.')
  defaultMessageTimeToLive: string?
}

@description('A subscription of one of the topics. Properties left out take the module defaults.')
type subscriptionDefinition = {
  @description('Name of the topic (one of the topics parameter).')
  topic: string

  @description('Subscription name.')
  name: string

  @description('Session-enabled subscription (ordered per SessionId). Fixed at creation.')
  requiresSession: bool?

  @description('Deliveries before the broker moves a message to the dead-letter queue.')
  maxDeliveryCount: int?

  @description('Peek-lock duration, ISO 8601 (PT5S to PT5M).')
  lockDuration: string?

  @description('Time to live of messages that do not set their own, ISO 8601.')
  defaultMessageTimeToLive: string?

  @description('Move expired messages to the dead-letter queue instead of dropping them.')
  deadLetteringOnMessageExpiration: bool?
}

@description('Queues to create. The defaults cover the background-jobs patterns: a plain work queue with duplicate detection (at-least-once senders that retry), a session queue for per-order ordering and session-state checkpoints, and a session reply queue (each requester receives its own replies by ReplyToSessionId).')
param queues queueDefinition[] = [
  {
    name: 'jobs'
  }
  {
    name: 'orders'
    requiresSession: true
  }
  {
    name: 'replies'
    requiresSession: true
    maxDeliveryCount: 5
    // A reply nobody collected within a day is of no use; it goes to the dead-letter queue.
    defaultMessageTimeToLive: 'P1D'
  }
]

@description('Topics to create. job-events is the jobs library default for completion events (shared/results/events.py).')
param topics topicDefinition[] = [
  {
    name: 'job-events'
  }
]

@description('Topic subscriptions to create. A topic without subscriptions discards what it receives.')
param subscriptions subscriptionDefinition[] = [
  {
    topic: 'job-events'
    name: 'notifications'
  }
]

// Defaults for every property an entity definition leaves out.
var entityDefaults = {
  // Long enough for most invocations; the Functions trigger renews the lock (up to host.json
  // maxAutoLockRenewalDuration, 5 minutes by default) for longer ones.
  lockDuration: 'PT1M'
  // The Service Bus default: a message that fails this often is poison, not unlucky.
  maxDeliveryCount: 10
  // Senders retry on timeouts, so the same MessageId can arrive twice; the broker drops the
  // copy within the window (the idempotency ledger covers longer gaps).
  requiresDuplicateDetection: true
  duplicateDetectionHistoryTimeWindow: 'PT10M'
  requiresSession: false
  defaultMessageTimeToLive: 'P14D'
  // Expired work is kept for inspection and replay rather than silently lost.
  deadLetteringOnMessageExpiration: true
}

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: sku == 'Premium' ? {
    name: 'Premium'
    tier: 'Premium'
    capacity: 1
  } : {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    // Microsoft Entra ID only: SAS keys and connection strings are refused.
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

resource serviceBusQueues 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = [for queue in queues: {
  parent: namespace
  name: queue.name
  properties: {
    requiresSession: queue.?requiresSession ?? entityDefaults.requiresSession
    requiresDuplicateDetection: queue.?requiresDuplicateDetection ?? entityDefaults.requiresDuplicateDetection
    duplicateDetectionHistoryTimeWindow: queue.?duplicateDetectionHistoryTimeWindow ?? entityDefaults.duplicateDetectionHistoryTimeWindow
    maxDeliveryCount: queue.?maxDeliveryCount ?? entityDefaults.maxDeliveryCount
    lockDuration: queue.?lockDuration ?? entityDefaults.lockDuration
    defaultMessageTimeToLive: queue.?defaultMessageTimeToLive ?? entityDefaults.defaultMessageTimeToLive
    deadLetteringOnMessageExpiration: queue.?deadLetteringOnMessageExpiration ?? entityDefaults.deadLetteringOnMessageExpiration
    enableBatchedOperations: true
  }
}]

resource serviceBusTopics 'Microsoft.ServiceBus/namespaces/topics@2024-01-01' = [for topic in topics: {
  parent: namespace
  name: topic.name
  properties: {
    requiresDuplicateDetection: topic.?requiresDuplicateDetection ?? entityDefaults.requiresDuplicateDetection
    duplicateDetectionHistoryTimeWindow: topic.?duplicateDetectionHistoryTimeWindow ?? entityDefaults.duplicateDetectionHistoryTimeWindow
    defaultMessageTimeToLive: topic.?defaultMessageTimeToLive ?? entityDefaults.defaultMessageTimeToLive
    enableBatchedOperations: true
  }
}]

resource serviceBusSubscriptions 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2024-01-01' = [for subscription in subscriptions: {
  // The parent topic comes from another loop and is chosen by name, so `parent:` cannot name
  // it: the full child name is spelled out and the dependency on the topics made explicit.
  name: '${namespace.name}/${subscription.topic}/${subscription.name}'
  dependsOn: [
    serviceBusTopics
  ]
  properties: {
    requiresSession: subscription.?requiresSession ?? entityDefaults.requiresSession
    maxDeliveryCount: subscription.?maxDeliveryCount ?? entityDefaults.maxDeliveryCount
    lockDuration: subscription.?lockDuration ?? entityDefaults.lockDuration
    defaultMessageTimeToLive: subscription.?defaultMessageTimeToLive ?? entityDefaults.defaultMessageTimeToLive
    deadLetteringOnMessageExpiration: subscription.?deadLetteringOnMessageExpiration ?? entityDefaults.deadLetteringOnMessageExpiration
    // A message a subscription rule cannot evaluate is kept for inspection, not lost.
    deadLetteringOnFilterEvaluationExceptions: true
    enableBatchedOperations: true
  }
}]

@description('Name of the namespace (the scope of the Service Bus role assignments).')
output name string = namespace.name

@description('Resource ID of the namespace.')
output id string = namespace.id

@description('Host name of the namespace, e.g. myns.servicebus.windows.net: the value of <connection>__fullyQualifiedNamespace settings.')
output fullyQualifiedNamespace string = replace(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), ':443/', '')
