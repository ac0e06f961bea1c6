// A storage account and its entities. main.bicep deploys it twice:
//   - the account both function apps share: host storage (AzureWebJobsStorage: keys, timer and
//     singleton leases, blob-trigger receipts, poison queues), the API app's deployment package
//     (Flex Consumption), the jobs library's data (status records, idempotency ledger,
//     checkpoints, locks, priority queues) and the job families' queues, containers and tables;
//   - the vault account (SensitiveStorage): the Gatekeeper's intake queue and the encrypted
//     Vault table, apart so that its roles can differ from the shared account's.
//
// Shared Key authorization is off: every client (both apps' managed identities, the Flex
// Consumption deployment, developers) authorizes with Microsoft Entra ID and data roles
// (roles.bicep). No hosting plan in this template needs an account key: Flex Consumption
// reads its package by identity and the Dedicated plan keeps app content on its own
// platform-managed storage, so there is no Azure Files content share.
//
// Every table, container and queue is also created on first use by the code (the library's
// ensure_* calls, the host's own entities); creating them here makes them visible and owned by
// the deployment, and lets queue-scoped role assignments name them.

@description('Storage account name: 3-24 lowercase letters and digits, globally unique.')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region of the account.')
param location string

@description('Tags applied to the account.')
param tags object

@description('Zone-redundant storage (Standard_ZRS) instead of locally redundant (Standard_LRS).')
param zoneRedundant bool = false

@description('Disabled: reachable only through private endpoints (network.bicep). Enabled: public endpoint, every request still authorized by Microsoft Entra ID.')
@allowed([
  'Enabled'
  'Disabled'
])
param publicNetworkAccess string

@description('Storage queues to create.')
param queueNames array = []

@description('Blob containers to create (all private).')
param containerNames array = []

@description('Tables to create.')
param tableNames array = []

@description('Days a deleted blob or container can be restored (protects checkpoints, locks and deployment packages from an accidental delete).')
@minValue(1)
@maxValue(365)
param softDeleteRetentionDays int = 7

@description('Resource ID of the Log Analytics workspace that receives the diagnostic settings.')
param workspaceId string

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    // Job state the workflows can retry or rebuild: LRS by default, ZRS for production
    // (zoneRedundant) so the host's leases and the job records survive a zone outage.
    name: zoneRedundant ? 'Standard_ZRS' : 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    // Keyless: no account key or SAS is accepted.
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    publicNetworkAccess: publicNetworkAccess
    networkAcls: {
      // With publicNetworkAccess Disabled only private endpoints reach the account; with it
      // Enabled the public endpoint is open to identities holding data roles (no keys exist).
      defaultAction: publicNetworkAccess == 'Disabled' ? 'Deny' : 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteRetentionDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteRetentionDays
    }
  }
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for containerName in containerNames: {
  parent: blobService
  name: containerName
  properties: {
    publicAccess: 'None'
  }
}]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for queueName in queueNames: {
  parent: queueService
  name: queueName
}]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [for tableName in tableNames: {
  parent: tableService
  name: tableName
}]

// Diagnostic settings: the account itself has only metrics; each service has its request logs.
resource accountDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: account
  properties: {
    workspaceId: workspaceId
    metrics: [
      {
        category: 'Transaction'
        enabled: true
      }
    ]
  }
}

resource blobDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: blobService
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
        category: 'Transaction'
        enabled: true
      }
    ]
  }
}

resource queueDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: queueService
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
        category: 'Transaction'
        enabled: true
      }
    ]
  }
}

resource tableDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: tableService
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
        category: 'Transaction'
        enabled: true
      }
    ]
  }
}

@description('Name of the storage account.')
output name string = account.name

@description('Resource ID of the storage account (the scope of the storage role assignments and private endpoints).')
output id string = account.id

@description('Blob endpoint, e.g. https://<name>.blob.core.windows.net/ (the Flex Consumption deployment container lives under it).')
output blobEndpoint string = account.properties.primaryEndpoints.blob
