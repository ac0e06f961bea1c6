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

// The signed-in developer gets the jobs app's data roles (run the apps locally against Azure)
// and Key Vault Secrets Officer (set the two secrets once: docs/infra.md, "Secrets").
param developerPrincipalId = readEnvironmentVariable('AZURE_PRINCIPAL_ID', '')
