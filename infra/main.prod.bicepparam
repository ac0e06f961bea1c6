// Production parameters:
//   az deployment group what-if -g <resource-group> --parameters infra/main.prod.bicepparam
//   az deployment group create  -g <resource-group> --parameters infra/main.prod.bicepparam
// Zone redundancy, private endpoints and warm capacity; the region must offer availability
// zones and Flex Consumption zone redundancy.
using 'main.bicep'

param namePrefix = 'funchost-prod'

param tags = {
  project: 'funchost'
  workload: 'background-jobs'
  environment: 'prod'
}

// Two warm API instances (zone redundancy needs at least two).
param apiMaximumInstances = 100

param apiInstanceMemoryMB = 2048

param apiAlwaysReadyInstances = 2

// Premium v3 (zone redundancy), at least two instances in two zones.
param jobsPlanSku = 'P1v3'

param jobsMinInstances = 2

param jobsMaxInstances = 10

param zoneRedundant = true

// privateNetworking makes Service Bus Premium anyway (private endpoints need it).
param serviceBusSku = 'Premium'

param privateNetworking = true

param vnetAddressPrefix = '10.40.0.0/16'

param subnetPrefixes = {
  api: '10.40.0.0/24'
  jobs: '10.40.1.0/24'
  privateEndpoints: '10.40.2.0/24'
}

param alertEmail = readEnvironmentVariable('FUNCHOST_ALERT_EMAIL', '')

param logRetentionDays = 90

param developerPrincipalId = ''
