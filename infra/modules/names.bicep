// Resource names from any accepted prefix. Only the prefix's letters and digits are used
// (lower-cased, at most 12); each name then follows the rules of its resource type, and a hash
// of the resource group and the prefix (uniqueString: 13 lowercase letters and digits) keeps
// globally unique names unique and stable for this resource group.
//
// Kept apart from main.bicep because it filters characters with lambda functions, which
// checkov's Bicep parser cannot read; it declares no resources, so the scanner misses nothing
// (infra/checkov-skips.yaml says so). tests/unit/test_infra.py evaluates these expressions
// for awkward prefixes and checks every name against its resource type's rules.

@description('The prefix as given (any 1-24 characters).')
@minLength(1)
@maxLength(24)
param namePrefix string

var alphanumerics = 'abcdefghijklmnopqrstuvwxyz0123456789'
var lowerPrefix = toLower(namePrefix)
var slug = take(join(filter(map(range(0, length(lowerPrefix)), i => substring(lowerPrefix, i, 1)), c => contains(alphanumerics, c)), ''), 12)
var suffix = uniqueString(resourceGroup().id, namePrefix)

// '<kind>-<slug>-<suffix>' with an empty slug left out: letters, digits and single hyphens,
// starting with a letter and ending with a letter or digit, at most 11 + 1 + 12 + 1 + 13 = 38.
var names = {
  workspace: join(filter(['log', slug, suffix], part => !empty(part)), '-')
  appInsights: join(filter(['appi', slug, suffix], part => !empty(part)), '-')
  // Storage: 3-24 lowercase letters and digits only: 2 + 9 + 13 = 24 at most.
  storage: 'st${take(slug, 9)}${suffix}'
  // The gatekeeper's account (SensitiveStorage): 5 + 6 + 13 = 24 at most. It starts with
  // 'vault', never 'st', so no prefix can make it equal the shared account's name.
  vaultStorage: 'vault${take(slug, 6)}${suffix}'
  // Key Vault: 3-24 letters, digits and single hyphens: 2 + 1 + 7 + 1 + 13 = 24 at most.
  keyVault: join(filter(['kv', take(slug, 7), suffix], part => !empty(part)), '-')
  // Service Bus: 6-50, starts with a letter, ends with a letter or digit.
  serviceBus: join(filter(['sb', slug, suffix], part => !empty(part)), '-')
  // The two apps differ within their first 32 characters (their host IDs in shared storage).
  apiApp: join(filter(['func-api', slug, suffix], part => !empty(part)), '-')
  jobsApp: join(filter(['func-jobs', slug, suffix], part => !empty(part)), '-')
  apiPlan: join(filter(['plan-api', slug, suffix], part => !empty(part)), '-')
  jobsPlan: join(filter(['plan-jobs', slug, suffix], part => !empty(part)), '-')
  vnet: join(filter(['vnet', slug, suffix], part => !empty(part)), '-')
  alerts: join(filter(['alert', slug, suffix], part => !empty(part)), '-')
  workloadIdentity: join(filter(['id-jobs-k8s', slug, suffix], part => !empty(part)), '-')
  scalerIdentity: join(filter(['id-keda', slug, suffix], part => !empty(part)), '-')
}

@description('Name of each resource, by role: workspace, appInsights, storage, vaultStorage, keyVault, serviceBus, apiApp, jobsApp, apiPlan, jobsPlan, vnet, alerts, workloadIdentity, scalerIdentity.')
output names object = names
