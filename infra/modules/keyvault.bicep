// The Key Vault holding the jobs app's two secrets, read through Key Vault references in its
// app settings (@Microsoft.KeyVault(SecretUri=...)), so no secret value is ever in a template,
// a parameter file or a deployment's history:
//   sensitive-key    SENSITIVE_KEY, the Fernet key of the vault table (functions/sensitive.py);
//   callback-secret  CALLBACK_SECRET, the HMAC key that signs callbacks (functions/results.py).
//
// The template creates neither secret: an operator sets them once, out of band (docs/infra.md,
// "Secrets"). Bicep cannot generate a key once and keep it: a value made in the template
// (newGuid() as a parameter default) changes on every deployment, and a new SENSITIVE_KEY
// would make every record already in the vault unreadable.
//
// Access is by Azure RBAC only (no access policies): the jobs app's identity holds Key Vault
// Secrets User (roles.bicep); the API app holds nothing here. Purge protection is on: losing
// the Fernet key loses the vault's data, so a deleted key must stay recoverable.

@description('Key Vault name: 3-24 letters, digits and hyphens, starting with a letter, globally unique.')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region of the vault.')
param location string

@description('Tags applied to the vault.')
param tags object

@description('Disabled: reachable only through a private endpoint (network.bicep). Enabled: public endpoint, every request still needs a Microsoft Entra token and a data role.')
@allowed([
  'Enabled'
  'Disabled'
])
param publicNetworkAccess string

@description('Days a deleted secret or vault stays recoverable (and its name reserved).')
@minValue(7)
@maxValue(90)
param softDeleteRetentionDays int = 90

@description('Resource ID of the Log Analytics workspace that receives the diagnostic settings.')
param workspaceId string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionDays
    enablePurgeProtection: true
    publicNetworkAccess: publicNetworkAccess
    networkAcls: {
      // As on the storage accounts: private endpoint only with privateNetworking, else the
      // public endpoint for identities holding a data role.
      defaultAction: publicNetworkAccess == 'Disabled' ? 'Deny' : 'Allow'
      bypass: 'AzureServices'
    }
  }
}

// Who read or changed which secret (AuditEvent), and the vault's metrics.
resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: vault
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

@description('Name of the Key Vault (the scope of the Key Vault role assignments).')
output name string = vault.name

@description('Resource ID of the Key Vault (the target of its private endpoint).')
output id string = vault.id

@description('URI of the vault, e.g. https://<name>.vault.azure.net/ (Key Vault references name secrets under it).')
output uri string = vault.properties.vaultUri
