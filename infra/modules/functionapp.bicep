// One Linux Python 3.11 function app (Python v2 programming model), deployed from the same
// code as its sibling: main.bicep instantiates this module twice, for the API app and the
// jobs app, and turns off in each the functions that belong to the other.
//
// Connections use the app's system-assigned identity wherever the platform allows it:
//   - Service Bus: <connection>__fullyQualifiedNamespace (the namespace refuses keys anyway).
//   - Host storage on Elastic Premium: AzureWebJobsStorage__accountName.
// Two places still need the storage account key, which is why the account allows Shared Key:
//   - Elastic Premium keeps the app content on an Azure Files share, and the platform mounts it
//     only with a key (WEBSITE_CONTENTAZUREFILECONNECTIONSTRING; Azure Files has no identity
//     option for this mount). Host and app data still go through the identity.
//   - Linux Consumption (Y1): `func azure functionapp publish` refuses to deploy unless
//     AzureWebJobsStorage is a connection string (it uploads the package with it, and the
//     remote build keeps its output there). So on Y1 the host storage connection is the key.
// The key is read here with listKeys() and written only into app settings, never an output.

@description('Name of the function app. Its first 32 characters are its host ID in the shared storage account, so the two apps must differ within them (main.bicep names them <prefix>-api-<suffix> and <prefix>-jobs-<suffix>).')
@minLength(2)
@maxLength(60)
param name string

@description('Azure region of the app.')
param location string

@description('Tags applied to the app.')
param tags object

@description('Resource ID of the App Service plan the app runs on (plan.bicep).')
param planId string

@description('SKU of that plan: Y1 (Linux Consumption) or EP1-EP3 (Elastic Premium). It decides how host storage and app content are connected; see the note at the top.')
@allowed([
  'Y1'
  'EP1'
  'EP2'
  'EP3'
])
param planSku string

@description('Name of the shared storage account (host storage and jobs data).')
param storageAccountName string

@description('Azure Files share holding the app content (Elastic Premium only; unused on Y1). storage.bicep creates it.')
param contentShareName string

@description('Host name of the Service Bus namespace, e.g. myns.servicebus.windows.net.')
param serviceBusFullyQualifiedNamespace string

@description('Name of the Application Insights component the app reports to.')
param appInsightsName string

@description('Most instances this app scales out to (functionAppScaleLimit).')
@minValue(1)
@maxValue(100)
param maximumInstances int

@description('Elastic Premium only: instances of this app kept running and warm even when idle.')
@minValue(1)
@maxValue(20)
param alwaysReadyInstances int = 1

@description('Elastic Premium only: path the platform requests on every instance to take unhealthy ones out of rotation (for example /api/health). Empty: no health check.')
param healthCheckPath string = ''

@description('Functions this app must not run: each becomes AzureWebJobs.<name>.Disabled = true. This is how one code base is split into the API app and the jobs app.')
param disabledFunctions array = []

@description('More app settings, name to value, for example the %Setting% values the functions use. They must not repeat a name set by this module.')
param extraAppSettings object = {}

var isElasticPremium = startsWith(planSku, 'EP')

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

// Key-based; used only where the note at the top says an identity cannot be.
var storageKeyConnectionString = 'DefaultEndpointsProtocol=https;AccountName=${storageAccount.name};EndpointSuffix=${environment().suffixes.storage};AccountKey=${storageAccount.listKeys().keys[0].value}'

// Settings every app gets, whatever its plan.
var baseSettings = [
  {
    name: 'FUNCTIONS_EXTENSION_VERSION'
    value: '~4'
  }
  {
    name: 'FUNCTIONS_WORKER_RUNTIME'
    value: 'python'
  }
  // AzureWebJobsFeatureFlags=EnableWorkerIndexing is not set: the Functions 4.x runtime
  // indexes Python v2 model apps without it (local.settings.example.json keeps it for older
  // Core Tools).
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: appInsights.properties.ConnectionString
  }
  {
    // The default connection of Service Bus triggers and outputs that name none.
    name: 'AzureWebJobsServiceBus__fullyQualifiedNamespace'
    value: serviceBusFullyQualifiedNamespace
  }
  {
    // The jobs library's default (shared/servicebus.py: ServiceBusNamespace.from_settings()),
    // also usable as connection="ServiceBusConnection" in bindings.
    name: 'ServiceBusConnection__fullyQualifiedNamespace'
    value: serviceBusFullyQualifiedNamespace
  }
]

// Linux Consumption: key-based host storage (required by `func azure functionapp publish`),
// and no Azure Files settings (Core Tools removes them on Linux Consumption: the app runs from
// the package it uploads).
var consumptionSettings = [
  {
    name: 'AzureWebJobsStorage'
    value: storageKeyConnectionString
  }
]

// Elastic Premium: identity-based host storage; the content share mounted with the key.
var elasticPremiumSettings = [
  {
    // Identity-based host storage: system-assigned identity, blob/queue/table endpoints of
    // this account (roles.bicep grants the data roles).
    name: 'AzureWebJobsStorage__accountName'
    value: storageAccount.name
  }
  {
    name: 'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING'
    value: storageKeyConnectionString
  }
  {
    // Set explicitly (and created by storage.bicep) so a redeployment keeps the same share.
    name: 'WEBSITE_CONTENTSHARE'
    value: contentShareName
  }
  // The remote-build settings `func azure functionapp publish` puts on Elastic Premium Linux
  // apps (Python builds remotely by default). Declared here too, so redeploying the
  // infrastructure does not remove them and the next publish does not have to restart the app
  // to put them back.
  {
    name: 'ENABLE_ORYX_BUILD'
    value: 'true'
  }
  {
    name: 'SCM_DO_BUILD_DURING_DEPLOYMENT'
    value: '1'
  }
  {
    name: 'BUILD_FLAGS'
    value: 'UseExpressBuild'
  }
  {
    name: 'XDG_CACHE_HOME'
    value: '/tmp/.cache'
  }
]

var disabledFunctionSettings = [for functionName in disabledFunctions: {
  name: 'AzureWebJobs.${functionName}.Disabled'
  value: 'true'
}]

var extraSettings = [for setting in items(extraAppSettings): {
  name: setting.key
  value: setting.value
}]

var appSettings = concat(baseSettings, isElasticPremium ? elasticPremiumSettings : consumptionSettings, disabledFunctionSettings, extraSettings)

var siteConfig = union({
  linuxFxVersion: 'Python|3.11'
  appSettings: appSettings
  ftpsState: 'Disabled'
  minTlsVersion: '1.2'
  scmMinTlsVersion: '1.2'
  http20Enabled: true
  use32BitWorkerProcess: false
  // Per-app scale-out limit: caps cost, and the load this app can put on storage and
  // Service Bus, independently of the other app.
  functionAppScaleLimit: maximumInstances
}, isElasticPremium ? {
  minimumElasticInstanceCount: alwaysReadyInstances
} : {}, isElasticPremium && !empty(healthCheckPath) ? {
  healthCheckPath: healthCheckPath
} : {})

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: planId
    reserved: true
    httpsOnly: true
    clientAffinityEnabled: false
    siteConfig: siteConfig
  }
}

// No user name/password publishing: `func azure functionapp publish` and the Azure CLI
// authenticate to the deployment (SCM) endpoint with a Microsoft Entra token.
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

@description('Name of the function app (what `func azure functionapp publish` takes).')
output name string = site.name

@description('Default host name of the app, e.g. <name>.azurewebsites.net.')
output defaultHostName string = site.properties.defaultHostName

@description('Principal ID of the app\'s system-assigned identity (roles.bicep grants it its data roles).')
output principalId string = site.identity.principalId
