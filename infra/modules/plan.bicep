// One Linux App Service plan for one function app. main.bicep creates two, so the API app and
// the jobs app never compete for the same instances and scale (and are billed) on their own:
// a burst of background work cannot slow the HTTP API down, and the API's traffic does not
// keep jobs instances alive.

@description('Plan name.')
param name string

@description('Azure region of the plan.')
param location string

@description('Tags applied to the plan.')
param tags object

@description('Y1: Linux Consumption (pay per execution, scales to zero, functionTimeout at most 10 minutes). EP1-EP3: Elastic Premium (always at least one warm instance, no cold start, functionTimeout unbounded with 60 minutes guaranteed, VNet integration).')
@allowed([
  'Y1'
  'EP1'
  'EP2'
  'EP3'
])
param sku string

@description('Elastic Premium only: the most instances the plan bursts to. Ignored for Y1, whose limit is set per app (functionAppScaleLimit).')
@minValue(1)
@maxValue(100)
param maximumElasticWorkerCount int = 20

var isElasticPremium = startsWith(sku, 'EP')

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: name
  location: location
  tags: tags
  kind: isElasticPremium ? 'elastic' : 'functionapp'
  sku: isElasticPremium ? {
    name: sku
    tier: 'ElasticPremium'
    family: 'EP'
    // Instances the plan always keeps (the Elastic Premium minimum, billed continuously).
    capacity: 1
  } : {
    name: 'Y1'
    tier: 'Dynamic'
    family: 'Y'
    size: 'Y1'
  }
  properties: union({
    // reserved = Linux. Python function apps only run on Linux.
    reserved: true
  }, isElasticPremium ? {
    maximumElasticWorkerCount: maximumElasticWorkerCount
  } : {})
}

@description('Resource ID of the plan.')
output id string = plan.id

@description('Name of the plan.')
output name string = plan.name
