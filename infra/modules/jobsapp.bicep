// The jobs app: queue, Service Bus, blob and timer functions (and the sensitive-data job) on a
// Dedicated (App Service) plan of its own, the guidance's "separate App Service plan":
//   - no cold start and no execution cap: Always On keeps the host running, functionTimeout
//     may exceed the 10 minutes of Consumption (host.json sets 1 hour, the time the platform
//     guarantees on this plan);
//   - keyless: app content lives on the plan's own storage, so neither a content share nor an
//     account key exists (Elastic Premium would need both);
//   - scale is rule-based, not event-driven: the autoscale setting below adds instances on
//     Storage queue length, Service Bus backlog and CPU, between jobsMinInstances and
//     jobsMaxInstances, and bills for every running instance.
// docs/infra.md compares it with Elastic Premium and Flex Consumption.

@description('Name of the function app. Its first 32 characters are its host ID in the shared storage account, so it must differ from the API app within them.')
@minLength(2)
@maxLength(60)
param name string

@description('Name of the App Service plan.')
param planName string

@description('Azure region of the plan and the app.')
param location string

@description('Tags applied to the plan, the app and the autoscale setting.')
param tags object

@description('Plan size: S1-S3 (Standard) or P0v3-P3v3 (Premium v3; zone redundancy needs Premium v3). Basic and Free plans have no autoscale and are not offered.')
@allowed([
  'S1'
  'S2'
  'S3'
  'P0v3'
  'P1v3'
  'P2v3'
  'P3v3'
])
param sku string = 'P0v3'

@description('Instances the plan always runs (and the autoscale minimum). At least 2 with zone redundancy.')
@minValue(1)
@maxValue(30)
param minimumInstances int = 1

@description('Most instances autoscale adds (Standard plans stop at 10, Premium v3 at 30).')
@minValue(1)
@maxValue(30)
param maximumInstances int = 10

@description('Spread the plan\'s instances over availability zones (Premium v3, at least 2 instances).')
param zoneRedundant bool = false

@description('App settings, name to value: connections and the %Setting% values the functions use. They must not repeat a name this module sets.')
param appSettings object

@description('Functions this app must not run: each becomes AzureWebJobs.<name>.Disabled = true.')
param disabledFunctions array = []

@description('Path the platform probes on every instance to replace unhealthy ones (an anonymous route of the app).')
param healthCheckPath string

@description('Subnet delegated to Microsoft.Web/serverFarms for VNet integration; empty for none.')
param subnetId string = ''

@description('Resource ID of the storage account whose queues drive autoscale.')
param storageAccountId string

@description('Storage queues whose length drives autoscale, with the messages one instance should have waiting before another is added: objects with name and perInstance. Each takes 2 of the profile\'s 10 rules (CPU takes 2).')
param scaleQueues array

@description('Resource ID of the Service Bus namespace whose queues drive autoscale.')
param serviceBusNamespaceId string

@description('Service Bus queues whose active message count drives autoscale: objects with name and perInstance. Each takes 1 of the profile\'s 10 rules.')
param scaleServiceBusQueues array

@description('Resource ID of the Log Analytics workspace that receives the diagnostic settings.')
param workspaceId string

var tier = startsWith(sku, 'S') ? 'Standard' : 'PremiumV3'
var capacity = zoneRedundant ? max(minimumInstances, 2) : minimumInstances
var maximum = max(maximumInstances, capacity)

var planSettings = {
  FUNCTIONS_EXTENSION_VERSION: '~4'
  FUNCTIONS_WORKER_RUNTIME: 'python'
  AzureWebJobsStorage__credential: 'managedidentity'
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD'
  // The remote build `func azure functionapp publish --build remote` asks for on Linux
  // Dedicated plans, declared here so an infrastructure redeployment keeps it.
  SCM_DO_BUILD_DURING_DEPLOYMENT: 'true'
  ENABLE_ORYX_BUILD: 'true'
}

var disabledFunctionSettings = [for functionName in disabledFunctions: {
  name: 'AzureWebJobs.${functionName}.Disabled'
  value: 'true'
}]

var namedSettings = [for setting in items(union(appSettings, planSettings)): {
  name: setting.key
  value: setting.value
}]

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'linux'
  sku: {
    name: sku
    tier: tier
    capacity: capacity
  }
  properties: {
    // Linux.
    reserved: true
    zoneRedundant: zoneRedundant
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientAffinityEnabled: false
    // Its HTTP surface is the health probe and the admin API (master key); deployment goes
    // through the SCM endpoint, which follows this setting too.
    publicNetworkAccess: 'Enabled'
    virtualNetworkSubnetId: empty(subnetId) ? null : subnetId
    // With VNet integration every outbound call (storage, Service Bus) goes through the VNet,
    // where the private endpoints are.
    vnetRouteAllEnabled: !empty(subnetId)
    siteConfig: {
      linuxFxVersion: 'Python|3.11'
      // Non-HTTP triggers only run while the host runs: required on Dedicated plans.
      alwaysOn: true
      healthCheckPath: healthCheckPath
      ftpsState: 'Disabled'
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      http20Enabled: true
      use32BitWorkerProcess: false
      appSettings: concat(namedSettings, disabledFunctionSettings)
    }
  }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

// Scale out when any rule fires; scale in only when every scale-in rule agrees (Azure
// autoscale semantics). The queue metrics are per instance: "perInstance messages waiting for
// each running instance".
var queueOutRules = [for queue in scaleQueues: {
  metricTrigger: {
    metricName: 'ApproximateMessageCount'
    metricNamespace: ''
    metricResourceUri: '${storageAccountId}/services/queue/queues/${queue.name}'
    timeGrain: 'PT1M'
    statistic: 'Average'
    timeWindow: 'PT5M'
    timeAggregation: 'Average'
    operator: 'GreaterThan'
    threshold: queue.perInstance
  }
  scaleAction: {
    direction: 'Increase'
    type: 'ChangeCount'
    value: '1'
    cooldown: 'PT5M'
  }
}]

var queueInRules = [for queue in scaleQueues: {
  metricTrigger: {
    metricName: 'ApproximateMessageCount'
    metricNamespace: ''
    metricResourceUri: '${storageAccountId}/services/queue/queues/${queue.name}'
    timeGrain: 'PT1M'
    statistic: 'Average'
    timeWindow: 'PT15M'
    timeAggregation: 'Average'
    operator: 'LessThan'
    threshold: max(1, queue.perInstance / 10)
  }
  scaleAction: {
    direction: 'Decrease'
    type: 'ChangeCount'
    value: '1'
    cooldown: 'PT15M'
  }
}]

var serviceBusOutRules = [for queue in scaleServiceBusQueues: {
  metricTrigger: {
    metricName: 'MessageCount'
    metricNamespace: ''
    metricResourceUri: '${serviceBusNamespaceId}/queues/${queue.name}'
    timeGrain: 'PT1M'
    statistic: 'Average'
    timeWindow: 'PT5M'
    timeAggregation: 'Average'
    operator: 'GreaterThan'
    threshold: queue.perInstance
  }
  scaleAction: {
    direction: 'Increase'
    type: 'ChangeCount'
    value: '1'
    cooldown: 'PT5M'
  }
}]

var cpuRules = [
  {
    metricTrigger: {
      metricName: 'CpuPercentage'
      metricNamespace: 'microsoft.web/serverfarms'
      metricResourceUri: plan.id
      timeGrain: 'PT1M'
      statistic: 'Average'
      timeWindow: 'PT10M'
      timeAggregation: 'Average'
      operator: 'GreaterThan'
      threshold: 70
    }
    scaleAction: {
      direction: 'Increase'
      type: 'ChangeCount'
      value: '1'
      cooldown: 'PT5M'
    }
  }
  {
    metricTrigger: {
      metricName: 'CpuPercentage'
      metricNamespace: 'microsoft.web/serverfarms'
      metricResourceUri: plan.id
      timeGrain: 'PT1M'
      statistic: 'Average'
      timeWindow: 'PT20M'
      timeAggregation: 'Average'
      operator: 'LessThan'
      threshold: 25
    }
    scaleAction: {
      direction: 'Decrease'
      type: 'ChangeCount'
      value: '1'
      cooldown: 'PT15M'
    }
  }
]

resource autoscale 'Microsoft.Insights/autoscalesettings@2022-10-01' = {
  name: '${planName}-autoscale'
  location: location
  tags: tags
  properties: {
    enabled: true
    targetResourceUri: plan.id
    profiles: [
      {
        name: 'queue-and-cpu'
        capacity: {
          minimum: string(capacity)
          maximum: string(maximum)
          default: string(capacity)
        }
        rules: concat(cpuRules, queueOutRules, queueInRules, serviceBusOutRules)
      }
    ]
  }
}

resource siteDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: site
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

resource planDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: plan
  properties: {
    workspaceId: workspaceId
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

resource autoscaleDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: autoscale
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

@description('Name of the function app (what `func azure functionapp publish` takes).')
output name string = site.name

@description('Default host name of the app, e.g. <name>.azurewebsites.net.')
output defaultHostName string = site.properties.defaultHostName

@description('Principal ID of the app\'s system-assigned identity (roles.bicep grants it its data roles).')
output principalId string = site.identity.principalId

@description('Resource ID of the app.')
output id string = site.id

@description('Resource ID of the plan.')
output planId string = plan.id
