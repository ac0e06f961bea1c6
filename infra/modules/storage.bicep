// The storage account both function apps share: host storage (AzureWebJobsStorage: keys,
// timer and singleton leases, blob-trigger receipts, poison queues) and the jobs library's data
// (status records, idempotency ledger, checkpoints, locks, priority queues, completion events).
// The two apps must see the same account: the API app enqueues work and reads job status that
// the jobs app writes.
//
// Every table, container and queue is also created on first use by the code (the library's
// ensure_* calls, the host's own entities), so this list is not a second source of truth that
// must be kept in sync to work; creating them here makes them visible and owned by the
// deployment, and lets a locked-down identity (no create rights) run the apps later.

@description('Storage account name: 3-24 lowercase letters and digits, globally unique.')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region of the account.')
param location string

@description('Tags applied to the account.')
param tags object

@description('Allow Shared Key (account key) authorization. false is the safe default; main.bicep passes true and explains why the Functions hosting plans it supports still need a key.')
param allowSharedKeyAccess bool = false

@description('Storage queues to create.')
param queueNames array = []

@description('Blob containers to create (all private).')
param containerNames array = []

@description('Tables to create.')
param tableNames array = []

@description('Azure Files shares to create: the content shares of Elastic Premium function apps.')
param fileShareNames array = []

@description('Days a deleted blob or container can be restored (protects checkpoints and locks from an accidental delete).')
@minValue(1)
@maxValue(365)
param softDeleteRetentionDays int = 7

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    // Locally redundant: the data here is job state that the workflows can rebuild or retry,
    // and Functions host storage needs Blob, Queue and Table (which ZRS/GRS StorageV2 also
    // offer; raise it here if job state must survive a zone or region outage).
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: allowSharedKeyAccess
    // The portal and CLI use Microsoft Entra authorization by default, not the account key.
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      // No virtual network in this deployment: the apps reach storage over its public
      // endpoint, authorized by RBAC. Put the account behind private endpoints together with
      // VNet-integrated (Elastic Premium) apps if the network must be closed.
      defaultAction: 'Allow'
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

resource fileService 'Microsoft.Storage/storageAccounts/fileServices@2023-05-01' = {
  parent: account
  name: 'default'
}

// Created here rather than left to the platform so that the share exists before the app that
// names it in WEBSITE_CONTENTSHARE, and a redeployment never makes the platform pick a new one.
resource shares 'Microsoft.Storage/storageAccounts/fileServices/shares@2023-05-01' = [for shareName in fileShareNames: {
  parent: fileService
  name: shareName
}]

@description('Name of the storage account.')
output name string = account.name

@description('Resource ID of the storage account (the scope of the storage role assignments).')
output id string = account.id
