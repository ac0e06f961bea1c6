// Development parameters, and what azd uses (`azd up`): azd sets AZURE_ENV_NAME and
// AZURE_PRINCIPAL_ID in the environment it compiles this file in. Without azd:
//   az deployment group create -g <resource-group> --parameters infra/main.bicepparam
// Production: infra/main.prod.bicepparam. The location is the resource group's.
using 'main.bicep'

param namePrefix = readEnvironmentVariable('AZURE_ENV_NAME', 'funchost-dev')

param tags = {
  project: 'funchost'
  workload: 'background-jobs'
  environment: 'dev'
  'azd-env-name': readEnvironmentVariable('AZURE_ENV_NAME', 'funchost-dev')
}

// Scale to zero for the API; one small instance for the jobs.
param apiMaximumInstances = 40

param apiInstanceMemoryMB = 2048

param apiAlwaysReadyInstances = 0

param jobsPlanSku = 'P0v3'

param jobsMinInstances = 1

param jobsMaxInstances = 3

param zoneRedundant = false

param serviceBusSku = 'Standard'

// Public endpoints (identity-only access), so a laptop can publish and run against them.
param privateNetworking = false

param alertEmail = readEnvironmentVariable('FUNCHOST_ALERT_EMAIL', '')

param logRetentionDays = 30

// The signed-in developer gets the jobs app's data roles (run the apps locally against Azure).
param developerPrincipalId = readEnvironmentVariable('AZURE_PRINCIPAL_ID', '')

// Names of functions to turn off in each app (AzureWebJobs.<name>.Disabled). The app has
// only functions that belong in both so far (health); list background functions under
// apiDisabledFunctions and public HTTP ones under jobsDisabledFunctions as they are added.
param apiDisabledFunctions = []

param jobsDisabledFunctions = []
