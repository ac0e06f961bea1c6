// Data-plane roles for one function app's system-assigned identity: what its identity-based
// connections (AzureWebJobsStorage__accountName, <connection>__fullyQualifiedNamespace) and
// the jobs library's DefaultAzureCredential clients need.
//
// A separate module because a role assignment's name must be known when the deployment starts,
// and an app's principal ID only exists once the app does: passed in as a module parameter,
// it is a constant here.

@description('Principal (object) ID of the function app\'s managed identity.')
param principalId string

@description('Name of the storage account the app uses (in this resource group).')
param storageAccountName string

@description('Name of the Service Bus namespace the app uses (in this resource group).')
param serviceBusNamespaceName string

// Built-in role definition IDs (the same in every tenant).
var storageRoles = [
  {
    // Host storage: function keys, timer and singleton leases, blob-trigger receipts; the
    // library's blob leases and checkpoint blobs. Owner is the role the Functions docs name for
    // an identity-based AzureWebJobsStorage connection.
    name: 'Storage Blob Data Owner'
    id: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  }
  {
    // Queue triggers and outputs, <queue>-poison queues, the blob trigger's host queue.
    name: 'Storage Queue Data Contributor'
    id: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  }
  {
    // Status records, idempotency ledger, checkpoints, sequencer (shared/).
    name: 'Storage Table Data Contributor'
    id: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  }
]

// Service Bus triggers (receive, complete, dead-letter, session state), outputs (send) and
// the library's clients. The Functions docs list Data Receiver or Data Owner for the trigger
// and Data Sender for outputs; Data Owner covers all of them with one assignment.
var serviceBusDataOwnerRoleId = '090c5cfd-751d-490a-894a-3ce6f1109419'

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource serviceBusNamespace 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusNamespaceName
}

resource storageRoleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in storageRoles: {
  // Deterministic name: redeploying finds the same assignment instead of failing on a duplicate.
  name: guid(storageAccount.id, principalId, role.id)
  scope: storageAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.id)
    principalId: principalId
    // Said explicitly so a just-created identity is not looked up (and not found yet) in Entra.
    principalType: 'ServicePrincipal'
    description: '${role.name} for function app identity (funchost infra)'
  }
}]

resource serviceBusRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(serviceBusNamespace.id, principalId, serviceBusDataOwnerRoleId)
  scope: serviceBusNamespace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataOwnerRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Azure Service Bus Data Owner for function app identity (funchost infra)'
  }
}
