// Data-plane roles for one identity (a function app's, a Kubernetes workload's, KEDA's or a
// developer's), each at the narrowest scope the code allows:
//   - storage account scope for what the Functions host needs across the account (its blob
//     containers, poison queues it creates on demand) and for tables (the library's
//     ensure_table creates a table through the account's table service);
//   - queue scope for Storage queues an identity only sends to or reads the length of;
//   - entity scope (queue or topic) for every Service Bus role: no identity can manage the
//     namespace, list keys or touch an entity it does not use;
//   - the vault account (SensitiveStorage, the Gatekeeper's queue and table): queue scope for
//     queue roles, account scope for its one table (ensure_table creates through the service);
//   - Key Vault roles on the vault (its secrets are created out of band, so a role cannot be
//     scoped to a secret that does not exist yet);
//   - Monitoring Metrics Publisher on the Application Insights component (local auth is off).
// Role assignment names are guid(scope, principal, role), so redeploying is idempotent.
//
// A separate module because a role assignment's name must be known when the deployment starts,
// and an app's principal ID only exists once the app does: passed in as a module parameter,
// it is a constant here.

@description('Principal (object) ID of the identity.')
param principalId string

@description('ServicePrincipal for managed identities, User for a developer.')
@allowed([
  'ServicePrincipal'
  'User'
])
param principalType string = 'ServicePrincipal'

@description('What the assignments are for, written into their descriptions.')
param purpose string

@description('Name of the storage account (in this resource group).')
param storageAccountName string

@description('Roles on the whole storage account, by name (keys of roleIds below).')
param storageAccountRoles array = []

@description('Roles on single Storage queues: objects with queue and role.')
param storageQueueRoles array = []

@description('Name of the Service Bus namespace (in this resource group).')
param serviceBusNamespaceName string

@description('Roles on single Service Bus queues: objects with queue and role.')
param serviceBusQueueRoles array = []

@description('Roles on single Service Bus topics: objects with topic and role.')
param serviceBusTopicRoles array = []

@description('Name of the vault storage account (SensitiveStorage, in this resource group); empty for none.')
param vaultAccountName string = ''

@description('Roles on the whole vault account, by name.')
param vaultAccountRoles array = []

@description('Roles on single queues of the vault account: objects with queue and role.')
param vaultQueueRoles array = []

@description('Name of the Key Vault (in this resource group); empty for none.')
param keyVaultName string = ''

@description('Roles on the whole Key Vault, by name.')
param keyVaultRoles array = []

@description('Name of the Application Insights component to publish telemetry to; empty for none.')
param appInsightsName string = ''

// Built-in role definition IDs (the same in every tenant).
var roleIds = {
  'Storage Blob Data Owner': 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  'Storage Queue Data Contributor': '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  'Storage Queue Data Reader': '19e7f393-937e-4f77-808e-94535e297925'
  'Storage Queue Data Message Sender': 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a'
  'Storage Queue Data Message Processor': '8a0f0c08-91a1-4084-bc3d-661d67233fed'
  'Storage Table Data Contributor': '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  'Azure Service Bus Data Receiver': '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
  'Azure Service Bus Data Sender': '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
  'Azure Service Bus Data Owner': '090c5cfd-751d-490a-894a-3ce6f1109419'
  'Key Vault Secrets User': '4633458b-17de-408a-b874-0445c86b69e6'
  'Key Vault Secrets Officer': 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  'Monitoring Metrics Publisher': '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' existing = {
  parent: storageAccount
  name: 'default'
}

resource storageQueues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' existing = [for assignment in storageQueueRoles: {
  parent: queueService
  name: assignment.queue
}]

// Referenced only through the vault loops below, which are empty without vaultAccountName.
resource vaultAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: vaultAccountName
}

resource vaultQueueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' existing = {
  parent: vaultAccount
  name: 'default'
}

resource vaultQueues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' existing = [for assignment in vaultQueueRoles: {
  parent: vaultQueueService
  name: assignment.queue
}]

// Referenced only through the Key Vault loop below, which is empty without keyVaultName.
resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource serviceBusNamespace 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusNamespaceName
}

resource serviceBusQueues 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' existing = [for assignment in serviceBusQueueRoles: {
  parent: serviceBusNamespace
  name: assignment.queue
}]

resource serviceBusTopics 'Microsoft.ServiceBus/namespaces/topics@2024-01-01' existing = [for assignment in serviceBusTopicRoles: {
  parent: serviceBusNamespace
  name: assignment.topic
}]

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = if (!empty(appInsightsName)) {
  name: empty(appInsightsName) ? 'none' : appInsightsName
}

resource storageAccountAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in storageAccountRoles: {
  name: guid(storageAccount.id, principalId, roleIds[role])
  scope: storageAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds[role])
    principalId: principalId
    // Said explicitly so a just-created identity is not looked up (and not found yet) in Entra.
    principalType: principalType
    description: '${role} for ${purpose}'
  }
}]

resource storageQueueAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (assignment, i) in storageQueueRoles: {
  name: guid(storageQueues[i].id, principalId, roleIds[assignment.role])
  scope: storageQueues[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds[assignment.role])
    principalId: principalId
    principalType: principalType
    description: '${assignment.role} on queue ${assignment.queue} for ${purpose}'
  }
}]

resource vaultAccountAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in vaultAccountRoles: {
  name: guid(vaultAccount.id, principalId, roleIds[role])
  scope: vaultAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds[role])
    principalId: principalId
    principalType: principalType
    description: '${role} on the vault account for ${purpose}'
  }
}]

resource vaultQueueAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (assignment, i) in vaultQueueRoles: {
  name: guid(vaultQueues[i].id, principalId, roleIds[assignment.role])
  scope: vaultQueues[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds[assignment.role])
    principalId: principalId
    principalType: principalType
    description: '${assignment.role} on vault queue ${assignment.queue} for ${purpose}'
  }
}]

resource keyVaultAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in keyVaultRoles: {
  name: guid(keyVault.id, principalId, roleIds[role])
  scope: keyVault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds[role])
    principalId: principalId
    principalType: principalType
    description: '${role} for ${purpose}'
  }
}]

resource serviceBusQueueAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (assignment, i) in serviceBusQueueRoles: {
  name: guid(serviceBusQueues[i].id, principalId, roleIds[assignment.role])
  scope: serviceBusQueues[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds[assignment.role])
    principalId: principalId
    principalType: principalType
    description: '${assignment.role} on queue ${assignment.queue} for ${purpose}'
  }
}]

resource serviceBusTopicAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (assignment, i) in serviceBusTopicRoles: {
  name: guid(serviceBusTopics[i].id, principalId, roleIds[assignment.role])
  scope: serviceBusTopics[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds[assignment.role])
    principalId: principalId
    principalType: principalType
    description: '${assignment.role} on topic ${assignment.topic} for ${purpose}'
  }
}]

resource telemetryAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(appInsightsName)) {
  name: guid(appInsights.id, principalId, roleIds['Monitoring Metrics Publisher'])
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds['Monitoring Metrics Publisher'])
    principalId: principalId
    principalType: principalType
    description: 'Monitoring Metrics Publisher for ${purpose}'
  }
}
