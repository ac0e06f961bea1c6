// The API app: HTTP functions (accept a job and answer 202, report status, health) on a Flex
// Consumption plan (FC1) of its own. Flex Consumption scales to zero and per function group,
// reads its deployment package from a blob container with the app's managed identity (no
// storage key, no content share), and supports VNet integration.
//
// Flex Consumption takes the runtime from functionAppConfig, so FUNCTIONS_WORKER_RUNTIME,
// FUNCTIONS_EXTENSION_VERSION, linuxFxVersion, alwaysOn, ftpsState, functionAppScaleLimit and
// the content-share settings are not set here (they are deprecated on this plan). Diagnostic
// settings are not supported on Flex Consumption apps: this app's logs and metrics go to
// Application Insights (and through it to the workspace).

@description('Name of the function app. Its first 32 characters are its host ID in the shared storage account, so it must differ from the jobs app within them (main.bicep names them func-api-... and func-jobs-...).')
@minLength(2)
@maxLength(60)
param name string

@description('Name of the Flex Consumption plan (one app per Flex Consumption plan).')
param planName string

@description('Azure region of the plan and the app (a region that offers Flex Consumption).')
param location string

@description('Tags applied to the plan and the app.')
param tags object

@description('App settings, name to value: connections and the %Setting% values the functions use. They must not repeat a name this module sets.')
param appSettings object

@description('Functions this app must not run: each becomes AzureWebJobs.<name>.Disabled = true. This is how one code base is split into the API app and the jobs app.')
param disabledFunctions array = []

@description('Blob endpoint of the storage account holding the deployment container, e.g. https://<account>.blob.core.windows.net/.')
param blobEndpoint string

@description('Blob container the platform reads the deployment package from (storage.bicep creates it).')
param deploymentContainerName string

@description('Most instances the app scales out to (Flex Consumption accepts 40 to 1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory of each instance in MB (512, 2048 or 4096; CPU and concurrency follow it).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Always-ready instances of the HTTP function group: 0 scales to zero (cold starts), 1 or more keeps them warm (billed). Zone redundancy needs at least 2.')
@minValue(0)
@maxValue(20)
param alwaysReadyInstances int = 0

@description('Spread the plan over availability zones (the region must support it for Flex Consumption).')
param zoneRedundant bool = false

@description('Subnet delegated to Microsoft.App/environments for VNet integration; empty for none.')
param subnetId string = ''

var planSettings = {
  // Host storage by identity: blob, queue and table endpoints of this account, system-assigned
  // identity (roles.bicep grants the data roles).
  AzureWebJobsStorage__credential: 'managedidentity'
  // Telemetry with the app's identity: the component accepts no instrumentation-key-only data.
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD'
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
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
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
    // The public HTTP API: callers reach it over the internet, with function keys.
    publicNetworkAccess: 'Enabled'
    virtualNetworkSubnetId: empty(subnetId) ? null : subnetId
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      http20Enabled: true
      appSettings: concat(namedSettings, disabledFunctionSettings)
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        alwaysReady: alwaysReadyInstances > 0 ? [
          {
            name: 'http'
            instanceCount: alwaysReadyInstances
          }
        ] : []
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// No user name/password publishing: `func azure functionapp publish`, azd and the Azure CLI
// deploy with a Microsoft Entra token.
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

@description('Resource ID of the app.')
output id string = site.id
