// Example parameters for main.bicep:
//   az deployment group create -g <resource-group> --parameters infra/main.bicepparam
// The location is left out on purpose: everything goes to the resource group's region.
using 'main.bicep'

param namePrefix = 'funchost'

param jobsPlanSku = 'EP1'

param apiPlanSku = 'Y1'

param serviceBusSku = 'Standard'

param jobsMaxInstances = 10

param apiMaxInstances = 20

param tags = {
  project: 'funchost'
  workload: 'background-jobs'
  environment: 'dev'
}

// Names of functions to turn off in each app (AzureWebJobs.<name>.Disabled). The app has
// only functions that belong in both so far (health); list background functions under
// apiDisabledFunctions and public HTTP ones under jobsDisabledFunctions as they are added.
param apiDisabledFunctions = []

param jobsDisabledFunctions = []
