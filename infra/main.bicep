// The background-jobs system on Azure Functions: two function apps deployed from the same code
// (function_app.py + functions/ + shared/), each on its own plan:
//
//   - the API app: HTTP functions (accept a job, answer 202, report status), on a Consumption
//     plan by default, because HTTP traffic is bursty and cheap to serve;
//   - the jobs app: queue, Service Bus, blob and timer functions, on Elastic Premium, for warm
//     instances, runs longer than Consumption's 10-minute cap, and a scale-out cap of its own.
//
// Both share one storage account (host storage + the jobs library's tables, containers and
// queues) and one Service Bus namespace, and report to one Application Insights component.
// Each app's managed identity gets data roles on both (modules/roles.bicep).
//
// Shared keys: Service Bus refuses them (disableLocalAuth). The storage account allows them,
// because both hosting plans this template offers still need the account key somewhere: Elastic
// Premium mounts its content share with it, and `func azure functionapp publish` to Linux
// Consumption requires a key-based AzureWebJobsStorage. modules/functionapp.bicep has the
// details; docs/infra.md says how to go keyless (Flex Consumption).

targetScope = 'resourceGroup'

@description('Prefix of every resource name: 3-11 lowercase letters or digits, starting with a letter (it becomes part of the storage account name, which allows nothing else, and of the Service Bus namespace name, which must start with a letter).')
@minLength(3)
@maxLength(11)
param namePrefix string

@description('Azure region of every resource. Defaults to the region of the resource group.')
param location string = resourceGroup().location

@description('Elastic Premium size of the jobs app plan: EP1 (1 core, 3.5 GB), EP2 (2 cores, 7 GB), EP3 (4 cores, 14 GB).')
@allowed([
  'EP1'
  'EP2'
  'EP3'
])
param jobsPlanSku string = 'EP1'

@description('Plan of the API app: Y1 (Linux Consumption, scales to zero) or EP1 (Elastic Premium, no cold start).')
@allowed([
  'Y1'
  'EP1'
])
param apiPlanSku string = 'Y1'

@description('Service Bus tier: Standard, or Premium for dedicated capacity and private networking.')
@allowed([
  'Standard'
  'Premium'
])
param serviceBusSku string = 'Standard'

@description('Most instances the jobs app scales out to (the burst limit of its Elastic Premium plan).')
@minValue(1)
@maxValue(100)
param jobsMaxInstances int = 10

@description('Most instances the API app scales out to.')
@minValue(1)
@maxValue(100)
param apiMaxInstances int = 20

@description('Tags applied to every resource.')
param tags object = {
  project: 'funchost'
  workload: 'background-jobs'
}

@description('Functions the API app must not run (the background ones, by function name). Empty while the app has only functions that belong in both apps.')
param apiDisabledFunctions array = []

@description('Functions the jobs app must not run (the public HTTP ones, by function name). Empty while the app has only functions that belong in both apps.')
param jobsDisabledFunctions array = []

// Names. uniqueString() makes them globally unique and stable for this resource group.
var suffix = uniqueString(resourceGroup().id)
var prefix = toLower(namePrefix)
var apiAppName = '${prefix}-api-${suffix}'
var jobsAppName = '${prefix}-jobs-${suffix}'
var storageAccountName = take('${prefix}st${suffix}', 24)
var serviceBusNamespaceName = '${prefix}-sb-${suffix}'

var apiIsElasticPremium = apiPlanSku != 'Y1'

// One content share per Elastic Premium app (Linux Consumption runs from a package instead).
var jobsContentShare = toLower(jobsAppName)
var apiContentShare = toLower(apiAppName)
var contentShares = concat([
  jobsContentShare
], apiIsElasticPremium ? [
  apiContentShare
] : [])

// The jobs library's default entity names, so they exist before first use. Each comes from the
// module that uses it (tests/unit/test_infra.py checks they still match).
var jobsQueueBaseName = 'jobs' // shared/priority.py: PriorityQueues base, setting JOBS_QUEUE
var storageQueueNames = [
  '${jobsQueueBaseName}-high' // shared/priority.py
  '${jobsQueueBaseName}-normal' // shared/priority.py
  'job-events' // shared/results/events.py: DEFAULT_EVENTS
]
var blobContainerNames = [
  'job-locks' // shared/locks.py: DEFAULT_CONTAINER
  'job-checkpoints' // shared/checkpoints.py: DEFAULT_CONTAINER
]
var tableNames = [
  'JobStatus' // shared/status/store.py: DEFAULT_TABLE
  'JobsIdempotency' // shared/idempotency/ledger.py: DEFAULT_TABLE
  'JobCheckpoints' // shared/checkpoints.py: DEFAULT_TABLE
  'JobSequences' // shared/ordering/sequencer.py: DEFAULT_TABLE
]

// App settings both apps need besides the connections: the %Setting% values the functions use.
var sharedAppSettings = {
  JOBS_QUEUE: jobsQueueBaseName
}

// The functions/health.py route (anonymous); host.json keeps the default "api" route prefix.
var healthCheckPath = '/api/health'

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    tags: tags
    workspaceName: '${prefix}-logs-${suffix}'
    appInsightsName: '${prefix}-appi-${suffix}'
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: storageAccountName
    location: location
    tags: tags
    // See "Shared keys" at the top of this file.
    allowSharedKeyAccess: true
    queueNames: storageQueueNames
    containerNames: blobContainerNames
    tableNames: tableNames
    fileShareNames: contentShares
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  params: {
    name: serviceBusNamespaceName
    location: location
    tags: tags
    sku: serviceBusSku
  }
}

module jobsPlan 'modules/plan.bicep' = {
  name: 'jobs-plan'
  params: {
    name: '${prefix}-jobs-plan-${suffix}'
    location: location
    tags: tags
    sku: jobsPlanSku
    maximumElasticWorkerCount: jobsMaxInstances
  }
}

module apiPlan 'modules/plan.bicep' = {
  name: 'api-plan'
  params: {
    name: '${prefix}-api-plan-${suffix}'
    location: location
    tags: tags
    sku: apiPlanSku
    maximumElasticWorkerCount: apiMaxInstances
  }
}

module jobsApp 'modules/functionapp.bicep' = {
  name: 'jobs-app'
  params: {
    name: jobsAppName
    location: location
    tags: union(tags, {
      'funchost-app': 'jobs'
    })
    planId: jobsPlan.outputs.id
    planSku: jobsPlanSku
    storageAccountName: storage.outputs.name
    contentShareName: jobsContentShare
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    appInsightsName: monitoring.outputs.appInsightsName
    maximumInstances: jobsMaxInstances
    alwaysReadyInstances: 1
    healthCheckPath: healthCheckPath
    disabledFunctions: jobsDisabledFunctions
    extraAppSettings: sharedAppSettings
  }
}

module apiApp 'modules/functionapp.bicep' = {
  name: 'api-app'
  params: {
    name: apiAppName
    location: location
    tags: union(tags, {
      'funchost-app': 'api'
    })
    planId: apiPlan.outputs.id
    planSku: apiPlanSku
    storageAccountName: storage.outputs.name
    contentShareName: apiContentShare
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    appInsightsName: monitoring.outputs.appInsightsName
    maximumInstances: apiMaxInstances
    alwaysReadyInstances: 1
    healthCheckPath: healthCheckPath
    disabledFunctions: apiDisabledFunctions
    extraAppSettings: sharedAppSettings
  }
}

module jobsRoles 'modules/roles.bicep' = {
  name: 'jobs-roles'
  params: {
    principalId: jobsApp.outputs.principalId
    storageAccountName: storage.outputs.name
    serviceBusNamespaceName: serviceBus.outputs.name
  }
}

module apiRoles 'modules/roles.bicep' = {
  name: 'api-roles'
  params: {
    principalId: apiApp.outputs.principalId
    storageAccountName: storage.outputs.name
    serviceBusNamespaceName: serviceBus.outputs.name
  }
}

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

@description('Host name of the Service Bus namespace (the value of <connection>__fullyQualifiedNamespace).')
output serviceBusNamespaceFqdn string = serviceBus.outputs.fullyQualifiedNamespace

@description('Name of the Application Insights component both apps report to.')
output appInsightsName string = monitoring.outputs.appInsightsName
