// The background-jobs system on Azure Functions: two function apps deployed from the same code
// (function_app.py + functions/ + shared/), each on its own plan:
//
//   - the API app: HTTP functions (accept a job, answer 202, report status) on Flex Consumption
//     (FC1): scales to zero and per function group, identity-based deployment storage;
//   - the jobs app: queue, Service Bus, blob and timer functions on a Dedicated (App Service)
//     plan, the guidance's "separate App Service plan": always on, long runs, autoscale rules.
//
// Both share one storage account (host storage + the jobs library's and the job families'
// tables, containers and queues) and one Service Bus namespace, and report to one Application
// Insights component. A second storage account, the vault, holds the Gatekeeper's intake queue
// and encrypted table (SensitiveStorage): the API app may only add messages there. The jobs
// app's two secrets come from Key Vault references.
// No keys: storage refuses Shared Key, Service Bus refuses SAS, Application Insights refuses
// instrumentation-key-only telemetry; every identity gets data roles at the narrowest scope
// its code needs (modules/roles.bicep). docs/infra.md explains the choices.

targetScope = 'resourceGroup'

@description('Prefix that makes resource names recognisable: any 1-24 characters. Only its letters and digits are used (lower-cased, at most 12), each name follows its own rules, and a hash of the resource group and the prefix keeps names globally unique, so any accepted prefix deploys.')
@minLength(1)
@maxLength(24)
param namePrefix string

@description('Azure region of every resource. Defaults to the region of the resource group; it must offer Flex Consumption.')
param location string = resourceGroup().location

@description('Tags applied to every resource.')
param tags object = {
  project: 'funchost'
  workload: 'background-jobs'
}

@description('Most instances the API app scales out to (Flex Consumption: 40 to 1000).')
@minValue(40)
@maxValue(1000)
param apiMaximumInstances int = 40

@description('Memory per API instance in MB.')
@allowed([
  512
  2048
  4096
])
param apiInstanceMemoryMB int = 2048

@description('Always-ready API instances (0: scale to zero and accept cold starts).')
@minValue(0)
@maxValue(20)
param apiAlwaysReadyInstances int = 0

@description('Size of the jobs app\'s Dedicated plan: S1-S3 or P0v3-P3v3.')
@allowed([
  'S1'
  'S2'
  'S3'
  'P0v3'
  'P1v3'
  'P2v3'
  'P3v3'
])
param jobsPlanSku string = 'P0v3'

@description('Instances the jobs plan always runs (autoscale never goes below).')
@minValue(1)
@maxValue(30)
param jobsMinInstances int = 1

@description('Most instances autoscale gives the jobs plan.')
@minValue(1)
@maxValue(30)
param jobsMaxInstances int = 10

@description('Zone redundancy for the plans and the storage account (ZRS). Needs a region with availability zones, Premium v3 for the jobs plan, and at least 2 always-ready API instances.')
param zoneRedundant bool = false

@description('Service Bus tier: Standard, or Premium for dedicated capacity. privateNetworking forces Premium (private endpoints need it).')
@allowed([
  'Standard'
  'Premium'
])
param serviceBusSku string = 'Standard'

@description('Private endpoints for storage and Service Bus, VNet integration for both apps, and public network access off on storage and Service Bus.')
param privateNetworking bool = false

@description('Address space of the VNet when privateNetworking is on.')
param vnetAddressPrefix string = '10.40.0.0/16'

@description('Subnets within vnetAddressPrefix: the API app\'s integration, the jobs app\'s integration, the private endpoints.')
param subnetPrefixes object = {
  api: '10.40.0.0/24'
  jobs: '10.40.1.0/24'
  privateEndpoints: '10.40.2.0/24'
}

@description('E-mail address for alert notifications; empty: alerts fire without notifying anyone.')
param alertEmail string = ''

@description('Days the Log Analytics workspace keeps data.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

@description('Minutes a Pending or Running job may go unchanged before the supervisor retries it and the consistency check reports it (JOBS_STUCK_AFTER_MINUTES).')
@minValue(1)
param jobsStuckAfterMinutes int = 10

@description('Object ID of a developer (azd passes the signed-in user) who gets the jobs app\'s data roles to run the app locally against these resources; empty for none.')
param developerPrincipalId string = ''

@description('OIDC issuer URL of an AKS cluster that runs the container path (infra/k8s/): creates the workload and KEDA identities with federated credentials; empty for none.')
param aksOidcIssuerUrl string = ''

// --- names ------------------------------------------------------------------------------------

// Each resource's name from the prefix, by its own rules (modules/names.bicep).
module naming 'modules/names.bicep' = {
  name: 'names'
  params: {
    namePrefix: namePrefix
  }
}

var names = naming.outputs.names

// --- what the code uses -------------------------------------------------------------------------

// host.json, read at compile time: Service Bus deliveries match the Storage queue dequeue count.
var hostJson = loadJsonContent('../host.json')

// The entities the code uses, so they exist before first use. Each name comes from the module
// that uses it (tests/unit/test_infra.py imports those modules and checks they still match).
var jobsQueueBaseName = 'jobs' // shared/priority.py: PriorityQueues base, setting JOBS_QUEUE
var jobQueueNames = [
  '${jobsQueueBaseName}-high' // functions/tickets.py QUEUES, functions/dispatch.py
  '${jobsQueueBaseName}-normal' // functions/tickets.py QUEUES, functions/dispatch.py
]
var batchPartsQueueName = 'batch-parts' // functions/batch.py: PARTS_QUEUE
var notificationsQueueName = 'job-notifications' // functions/services.py: NOTIFY_QUEUE
// The host creates each <queue>-poison queue when it first needs it (the jobs app holds
// Queue Data Contributor on this account).
var storageQueueNames = concat(jobQueueNames, [
  batchPartsQueueName
  notificationsQueueName
  'job-events' // shared/results/events.py: DEFAULT_EVENTS
])
var blobContainerNames = [
  'job-locks' // shared/locks.py: DEFAULT_CONTAINER
  'job-checkpoints' // shared/checkpoints.py: DEFAULT_CONTAINER
  'images' // functions/thumbnails.py: SOURCE (blob trigger)
  'thumbnails' // functions/thumbnails.py: TARGET
  'batch-input' // functions/batch.py: the CSV blobs a batch job names
  'shipments' // functions/shop.py: SHIPMENTS
  'reports' // functions/reports.py: CONTAINER
]
var tableNames = [
  'JobStatus' // shared/status/store.py: DEFAULT_TABLE
  'JobsIdempotency' // shared/idempotency/ledger.py: DEFAULT_TABLE
  'JobCheckpoints' // shared/checkpoints.py: DEFAULT_TABLE
  'JobSequences' // shared/ordering/sequencer.py: DEFAULT_TABLE
  'JobsFanOut' // shared/coordination/fanout.py: DEFAULT_TABLE
  'ShopStock' // functions/shop.py: STOCK_TABLE
  'ShopPayments' // functions/shop.py: PAYMENTS_TABLE
  'ShopNotifications' // functions/shop.py: NOTIFICATIONS_TABLE
]
// The API app's deployment packages (Flex Consumption reads them by identity).
var deploymentContainerName = 'app-package-api'

// The vault account (functions/sensitive.py). Its poison queue is created here because no
// identity may create queues on this account; the host only adds messages to it.
var intakeQueueName = 'sensitive-intake' // functions/sensitive.py: INTAKE
var vaultQueueNames = [
  intakeQueueName
  '${intakeQueueName}-poison'
]
var vaultTableNames = [
  'Vault' // functions/sensitive.py: VAULT
]

// Key Vault secrets (created out of band: modules/keyvault.bicep says why).
var sensitiveKeySecretName = 'sensitive-key' // SENSITIVE_KEY
var callbackSecretName = 'callback-secret' // CALLBACK_SECRET

// Service Bus: the same entities as servicebus.config.json (the local emulator's), with the
// properties tests/unit/test_infra.py compares.
var orderingQueueName = 'orders' // shared/ordering/servicebus.py: DEFAULT_QUEUE
var replyQueueName = 'replies' // shared/results/reply.py: DEFAULT_REPLY_QUEUE
var requestQueueName = 'job-requests' // functions/results.py: REQUESTS
var eventsTopicName = 'job-events' // shared/results/events.py: DEFAULT_EVENTS
var orderStepQueueNames = [
  'order-reserve' // functions/orders.py: QUEUES
  'order-charge'
  'order-ship'
  'order-notify'
]
// The order saga's steps run one customer's orders in the order they were placed: one session
// per customer.
var orderStepQueues = [for queue in orderStepQueueNames: {
  name: queue
  requiresSession: true
}]
var serviceBusQueues = concat(orderStepQueues, [
  {
    // job_requests receives with a plain (non-session) trigger.
    name: requestQueueName
    requiresSession: false
  }
  {
    // ServiceBusOrdering receives with a plain receiver and defers: no sessions.
    name: orderingQueueName
    requiresSession: false
  }
  {
    // ServiceBusReplySender always sets a SessionId: each requester takes its own session.
    name: replyQueueName
    requiresSession: true
    // A reply nobody collected within a day is of no use; it goes to the dead-letter queue.
    defaultMessageTimeToLive: 'P1D'
  }
])
var serviceBusTopics = [
  {
    name: eventsTopicName
  }
]
var serviceBusSubscriptions = [
  {
    // A topic without subscriptions discards what it receives.
    topic: eventsTopicName
    name: 'notifications'
  }
]

// Which functions each app runs (AzureWebJobs.<name>.Disabled): the API app runs the HTTP
// functions of functions/api.py, the jobs app everything else; both run health, the jobs app's
// health check path. tests/unit/test_infra.py loads the app and checks that the two lists
// split its functions exactly.
var apiFunctionNames = [
  'submit_job'
  'get_job'
  'cancel_job'
  'list_jobs'
  'openapi'
]
var jobsFunctionNames = [
  'jobs_high' // functions/dispatch.py
  'jobs_normal'
  'order_reserve' // functions/orders.py
  'order_charge'
  'order_ship'
  'order_notify'
  'batch_part' // functions/batch.py
  'thumbnail_on_upload' // functions/thumbnails.py
  'thumbnail_poison'
  'daily_report' // functions/reports.py
  'consistency_check'
  'sensitive_intake' // functions/sensitive.py
  'job_notifications' // functions/results.py
  'job_requests'
  'nightly_retention' // functions/retention.py
  'supervise_jobs' // functions/supervise.py
]

// The functions/health.py route (anonymous); host.json keeps the default "api" route prefix.
var healthCheckPath = '/api/health'

var effectiveServiceBusSku = privateNetworking ? 'Premium' : serviceBusSku
// Not named publicNetworkAccess: checkov's Bicep graph resolves names across files, and the
// modules' parameter of that name would then read this expression in some runs and not others.
var publicAccess = privateNetworking ? 'Disabled' : 'Enabled'

// --- resources ----------------------------------------------------------------------------------

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    tags: tags
    workspaceName: names.workspace
    appInsightsName: names.appInsights
    retentionInDays: logRetentionDays
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: names.storage
    location: location
    tags: tags
    zoneRedundant: zoneRedundant
    publicNetworkAccess: publicAccess
    queueNames: storageQueueNames
    containerNames: concat(blobContainerNames, [
      deploymentContainerName
    ])
    tableNames: tableNames
    workspaceId: monitoring.outputs.workspaceId
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  params: {
    name: names.serviceBus
    location: location
    tags: tags
    sku: effectiveServiceBusSku
    publicNetworkAccess: publicAccess
    maxDeliveryCount: hostJson.extensions.queues.maxDequeueCount
    queues: serviceBusQueues
    topics: serviceBusTopics
    subscriptions: serviceBusSubscriptions
    workspaceId: monitoring.outputs.workspaceId
  }
}

module vaultStorage 'modules/storage.bicep' = {
  name: 'vault-storage'
  params: {
    name: names.vaultStorage
    location: location
    tags: tags
    zoneRedundant: zoneRedundant
    publicNetworkAccess: publicAccess
    queueNames: vaultQueueNames
    tableNames: vaultTableNames
    workspaceId: monitoring.outputs.workspaceId
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'key-vault'
  params: {
    name: names.keyVault
    location: location
    tags: tags
    publicNetworkAccess: publicAccess
    workspaceId: monitoring.outputs.workspaceId
  }
}

module network 'modules/network.bicep' = if (privateNetworking) {
  name: 'network'
  params: {
    name: names.vnet
    location: location
    tags: tags
    addressPrefix: vnetAddressPrefix
    apiSubnetPrefix: subnetPrefixes.api
    jobsSubnetPrefix: subnetPrefixes.jobs
    privateEndpointSubnetPrefix: subnetPrefixes.privateEndpoints
    storageAccountId: storage.outputs.id
    vaultStorageAccountId: vaultStorage.outputs.id
    serviceBusNamespaceId: serviceBus.outputs.id
    keyVaultId: keyVault.outputs.id
    workspaceId: monitoring.outputs.workspaceId
  }
}

// The vault account's service endpoints. The host's queue trigger accepts __accountName only
// for AzureWebJobsStorage; for any other connection it needs the service URI.
var vaultQueueServiceUri = 'https://${vaultStorage.outputs.name}.queue.${environment().suffixes.storage}'
var vaultTableServiceUri = 'https://${vaultStorage.outputs.name}.table.${environment().suffixes.storage}'

// Settings both apps get: identity-based connections and the %Setting% values the functions use.
var sharedAppSettings = {
  // Host storage and shared.storage.StorageAccount.from_settings(): identity, this account.
  AzureWebJobsStorage__accountName: storage.outputs.name
  // Service Bus triggers and outputs that name no connection.
  AzureWebJobsServiceBus__fullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
  // shared.servicebus.ServiceBusNamespace.from_settings() and connection="ServiceBusConnection".
  // The API app sends nothing to Service Bus but builds the client (functions/services.py).
  ServiceBusConnection__fullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
  // The vault's queue: the API app adds to it (sensitive.hand_over), the jobs app's trigger
  // reads it. The library takes __queueServiceUri too (StorageAccount.from_settings).
  SensitiveStorage__queueServiceUri: vaultQueueServiceUri
  SensitiveStorage__credential: 'managedidentity'
  APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.connectionString
  JOBS_QUEUE: jobsQueueBaseName
}

// The jobs app only: the vault table, the two secrets (Key Vault references, resolved by the
// platform with the app's identity; versionless, so a new secret version is picked up within
// a day or on restart), the supervisor's patience.
var jobsAppSettings = {
  SensitiveStorage__tableServiceUri: vaultTableServiceUri
  SENSITIVE_KEY: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.uri}secrets/${sensitiveKeySecretName})'
  CALLBACK_SECRET: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.uri}secrets/${callbackSecretName})'
  JOBS_STUCK_AFTER_MINUTES: string(jobsStuckAfterMinutes)
}

module apiApp 'modules/apiapp.bicep' = {
  name: 'api-app'
  params: {
    name: names.apiApp
    planName: names.apiPlan
    location: location
    tags: union(tags, {
      'azd-service-name': 'api'
    })
    appSettings: sharedAppSettings
    // The API app runs the HTTP functions and health.
    disabledFunctions: jobsFunctionNames
    blobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: deploymentContainerName
    maximumInstanceCount: apiMaximumInstances
    instanceMemoryMB: apiInstanceMemoryMB
    alwaysReadyInstances: apiAlwaysReadyInstances
    zoneRedundant: zoneRedundant
    subnetId: privateNetworking ? network.outputs.apiSubnetId : ''
  }
}

module jobsApp 'modules/jobsapp.bicep' = {
  name: 'jobs-app'
  params: {
    name: names.jobsApp
    planName: names.jobsPlan
    location: location
    tags: union(tags, {
      'azd-service-name': 'jobs'
    })
    sku: jobsPlanSku
    minimumInstances: jobsMinInstances
    maximumInstances: jobsMaxInstances
    zoneRedundant: zoneRedundant
    appSettings: union(sharedAppSettings, jobsAppSettings)
    // The jobs app runs everything but the API's HTTP functions.
    disabledFunctions: apiFunctionNames
    healthCheckPath: healthCheckPath
    subnetId: privateNetworking ? network.outputs.jobsSubnetId : ''
    storageAccountId: storage.outputs.id
    // An autoscale profile holds at most 10 rules: CPU takes 2, each Storage queue 2 (out
    // and in), each Service Bus queue 1. The order saga is scaled on its first step: every
    // order passes through it, and the later steps see the same orders soon after.
    scaleQueues: [
      {
        name: jobQueueNames[0]
        perInstance: 20
      }
      {
        name: jobQueueNames[1]
        perInstance: 100
      }
      {
        name: batchPartsQueueName
        perInstance: 50
      }
    ]
    serviceBusNamespaceId: serviceBus.outputs.id
    scaleServiceBusQueues: [
      {
        name: orderStepQueueNames[0]
        perInstance: 100
      }
    ]
    workspaceId: monitoring.outputs.workspaceId
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  params: {
    location: location
    tags: tags
    namePrefix: names.alerts
    serviceBusNamespaceId: serviceBus.outputs.id
    storageAccountId: storage.outputs.id
    workspaceId: monitoring.outputs.workspaceId
    alertEmail: alertEmail
  }
}

// --- roles --------------------------------------------------------------------------------------

// The API app: host storage (blobs), job status and idempotency records (tables), tickets on
// the two priority queues and notices on job-notifications (a cancelled job's callback), at
// queue scope (Contributor, not Message Sender: the library's ensure_queue calls Create
// Queue); on the vault account it may only add messages to the intake queue (the Gatekeeper).
// No Service Bus role and no Key Vault role: it sends nothing there and reads no secret.
module apiRoles 'modules/roles.bicep' = {
  name: 'api-roles'
  params: {
    principalId: apiApp.outputs.principalId
    purpose: 'the API function app'
    storageAccountName: storage.outputs.name
    storageAccountRoles: [
      'Storage Blob Data Owner'
      'Storage Table Data Contributor'
    ]
    storageQueueRoles: [for queue in concat(jobQueueNames, [notificationsQueueName]): {
      queue: queue
      role: 'Storage Queue Data Contributor'
    }]
    vaultAccountName: vaultStorage.outputs.name
    vaultQueueRoles: [
      {
        queue: intakeQueueName
        role: 'Storage Queue Data Message Sender'
      }
    ]
    serviceBusNamespaceName: serviceBus.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
  }
}

// The jobs app: everything the host needs across the shared account (queue triggers and the
// poison queues it creates, blob triggers and their receipts, timers), the library's and the
// job families' tables, blobs and queues. On the vault account: the queue trigger's roles
// (Reader, Message Processor), Message Sender to put back a message that is not due yet and
// for the host's move to the poison queue, and the Vault table. On Service Bus: the order
// steps (receive and send: each step sends the next, compensation sends back), job requests
// (receive), replies and completion events (send), the library's ordered queue (receive).
var jobsStorageAccountRoles = [
  'Storage Blob Data Owner'
  'Storage Queue Data Contributor'
  'Storage Table Data Contributor'
]
var jobsVaultAccountRoles = [
  'Storage Table Data Contributor'
]
var jobsVaultQueueRoles = [
  {
    queue: intakeQueueName
    role: 'Storage Queue Data Reader'
  }
  {
    queue: intakeQueueName
    role: 'Storage Queue Data Message Processor'
  }
  {
    queue: intakeQueueName
    role: 'Storage Queue Data Message Sender'
  }
  {
    queue: '${intakeQueueName}-poison'
    role: 'Storage Queue Data Message Sender'
  }
]
var orderStepReceiverRoles = [for queue in orderStepQueueNames: {
  queue: queue
  role: 'Azure Service Bus Data Receiver'
}]
var orderStepSenderRoles = [for queue in orderStepQueueNames: {
  queue: queue
  role: 'Azure Service Bus Data Sender'
}]
var jobsServiceBusQueueRoles = concat(orderStepReceiverRoles, orderStepSenderRoles, [
  {
    queue: requestQueueName
    role: 'Azure Service Bus Data Receiver'
  }
  {
    queue: replyQueueName
    role: 'Azure Service Bus Data Sender'
  }
  {
    queue: orderingQueueName
    role: 'Azure Service Bus Data Receiver'
  }
])
var jobsServiceBusTopicRoles = [
  {
    topic: eventsTopicName
    role: 'Azure Service Bus Data Sender'
  }
]

module jobsRoles 'modules/roles.bicep' = {
  name: 'jobs-roles'
  params: {
    principalId: jobsApp.outputs.principalId
    purpose: 'the jobs function app'
    storageAccountName: storage.outputs.name
    storageAccountRoles: jobsStorageAccountRoles
    vaultAccountName: vaultStorage.outputs.name
    vaultAccountRoles: jobsVaultAccountRoles
    vaultQueueRoles: jobsVaultQueueRoles
    serviceBusNamespaceName: serviceBus.outputs.name
    serviceBusQueueRoles: jobsServiceBusQueueRoles
    serviceBusTopicRoles: jobsServiceBusTopicRoles
    keyVaultName: keyVault.outputs.name
    keyVaultRoles: [
      'Key Vault Secrets User'
    ]
    appInsightsName: monitoring.outputs.appInsightsName
  }
}

// A developer running funchost or `func start` against these resources: the jobs app's roles
// (which cover what the API app does), and Secrets Officer to set the two secrets once and
// read them into local.settings.json.
module developerRoles 'modules/roles.bicep' = if (!empty(developerPrincipalId)) {
  name: 'developer-roles'
  params: {
    principalId: developerPrincipalId
    principalType: 'User'
    purpose: 'a developer running the apps locally'
    storageAccountName: storage.outputs.name
    storageAccountRoles: jobsStorageAccountRoles
    vaultAccountName: vaultStorage.outputs.name
    vaultAccountRoles: jobsVaultAccountRoles
    vaultQueueRoles: jobsVaultQueueRoles
    serviceBusNamespaceName: serviceBus.outputs.name
    serviceBusQueueRoles: jobsServiceBusQueueRoles
    serviceBusTopicRoles: jobsServiceBusTopicRoles
    keyVaultName: keyVault.outputs.name
    keyVaultRoles: [
      'Key Vault Secrets Officer'
    ]
    appInsightsName: monitoring.outputs.appInsightsName
  }
}

module containerIdentities 'modules/containeridentity.bicep' = if (!empty(aksOidcIssuerUrl)) {
  name: 'container-identities'
  params: {
    location: location
    tags: tags
    workloadIdentityName: names.workloadIdentity
    scalerIdentityName: names.scalerIdentity
    oidcIssuerUrl: aksOidcIssuerUrl
  }
}

// The container path's pods run the jobs app: the jobs app's roles.
module workloadRoles 'modules/roles.bicep' = if (!empty(aksOidcIssuerUrl)) {
  name: 'k8s-workload-roles'
  params: {
    principalId: containerIdentities.outputs.workloadPrincipalId
    purpose: 'the jobs app on Kubernetes'
    storageAccountName: storage.outputs.name
    storageAccountRoles: jobsStorageAccountRoles
    vaultAccountName: vaultStorage.outputs.name
    vaultAccountRoles: jobsVaultAccountRoles
    vaultQueueRoles: jobsVaultQueueRoles
    serviceBusNamespaceName: serviceBus.outputs.name
    serviceBusQueueRoles: jobsServiceBusQueueRoles
    serviceBusTopicRoles: jobsServiceBusTopicRoles
    keyVaultName: keyVault.outputs.name
    keyVaultRoles: [
      'Key Vault Secrets User'
    ]
    appInsightsName: monitoring.outputs.appInsightsName
  }
}

// KEDA reads queue lengths: Reader on the scaled Storage queues; on each scaled Service Bus
// queue, Data Owner (runtime properties are a Manage operation), at that queue's scope only.
module scalerRoles 'modules/roles.bicep' = if (!empty(aksOidcIssuerUrl)) {
  name: 'k8s-scaler-roles'
  params: {
    principalId: containerIdentities.outputs.scalerPrincipalId
    purpose: 'KEDA scaling the jobs app on Kubernetes'
    storageAccountName: storage.outputs.name
    storageQueueRoles: [for queue in concat(jobQueueNames, [batchPartsQueueName]): {
      queue: queue
      role: 'Storage Queue Data Reader'
    }]
    serviceBusNamespaceName: serviceBus.outputs.name
    serviceBusQueueRoles: [for queue in orderStepQueueNames: {
      queue: queue
      role: 'Azure Service Bus Data Owner'
    }]
  }
}

// --- outputs ------------------------------------------------------------------------------------

@description('Name of the API function app: func azure functionapp publish <this>.')
output apiAppName string = apiApp.outputs.name

@description('Name of the jobs function app: func azure functionapp publish <this>.')
output jobsAppName string = jobsApp.outputs.name

@description('Default host name of the API app (https://<this>/api/...).')
output apiAppHostName string = apiApp.outputs.defaultHostName

@description('Default host name of the jobs app.')
output jobsAppHostName string = jobsApp.outputs.defaultHostName

@description('Name of the shared storage account.')
output storageAccountName string = storage.outputs.name

@description('Name of the vault storage account (SensitiveStorage).')
output vaultStorageAccountName string = vaultStorage.outputs.name

@description('Name of the Key Vault: set the secrets sensitive-key and callback-secret in it once (docs/infra.md, "Secrets").')
output keyVaultName string = keyVault.outputs.name

@description('Name of the Service Bus namespace (KEDA\'s azure-servicebus trigger takes it).')
output serviceBusNamespaceName string = serviceBus.outputs.name

@description('Host name of the Service Bus namespace (the value of <connection>__fullyQualifiedNamespace).')
output serviceBusNamespaceFqdn string = serviceBus.outputs.fullyQualifiedNamespace

@description('Name of the Application Insights component both apps report to.')
output appInsightsName string = monitoring.outputs.appInsightsName

@description('Client ID of the Kubernetes workload identity (empty without aksOidcIssuerUrl).')
output k8sWorkloadClientId string = empty(aksOidcIssuerUrl) ? '' : containerIdentities.outputs.workloadClientId

@description('Client ID of KEDA\'s identity (empty without aksOidcIssuerUrl).')
output k8sScalerClientId string = empty(aksOidcIssuerUrl) ? '' : containerIdentities.outputs.scalerClientId
