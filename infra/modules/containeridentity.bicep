// Identities for the container path (infra/k8s/): the jobs app run by funchost on AKS, scaled
// by KEDA. Both authenticate with Microsoft Entra workload identity (no secrets in the
// cluster): a user-assigned identity per Kubernetes service account, trusted through a
// federated credential for the cluster's OIDC issuer.
//   - the workload identity: what the jobs app's pods use (the same data roles as the jobs
//     function app, granted in main.bicep);
//   - the scaler identity: what KEDA uses to read queue lengths (Storage Queue Data Reader on
//     the scaled queues; Service Bus Data Owner on the scaled queue only, because KEDA reads
//     the queue's runtime properties, a Manage operation).

@description('Azure region of the identities.')
param location string

@description('Tags applied to both identities.')
param tags object

@description('Name of the pods\' identity.')
param workloadIdentityName string

@description('Name of KEDA\'s identity.')
param scalerIdentityName string

@description('OIDC issuer URL of the AKS cluster (az aks show --query oidcIssuerProfile.issuerUrl).')
param oidcIssuerUrl string

@description('Kubernetes namespace and service account of the jobs pods (infra/k8s/).')
param workloadServiceAccount string = 'system:serviceaccount:funchost:funchost-jobs'

@description('Kubernetes namespace and service account of the KEDA operator.')
param scalerServiceAccount string = 'system:serviceaccount:keda:keda-operator'

resource workload 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: workloadIdentityName
  location: location
  tags: tags
}

resource workloadFederation 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials@2023-01-31' = {
  parent: workload
  name: 'aks-funchost-jobs'
  properties: {
    issuer: oidcIssuerUrl
    subject: workloadServiceAccount
    audiences: [
      'api://AzureADTokenExchange'
    ]
  }
}

resource scaler 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: scalerIdentityName
  location: location
  tags: tags
}

resource scalerFederation 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials@2023-01-31' = {
  parent: scaler
  name: 'aks-keda-operator'
  properties: {
    issuer: oidcIssuerUrl
    subject: scalerServiceAccount
    audiences: [
      'api://AzureADTokenExchange'
    ]
  }
}

@description('Client ID of the pods\' identity (the azure.workload.identity/client-id annotation).')
output workloadClientId string = workload.properties.clientId

@description('Principal ID of the pods\' identity.')
output workloadPrincipalId string = workload.properties.principalId

@description('Client ID of KEDA\'s identity (TriggerAuthentication podIdentity.identityId).')
output scalerClientId string = scaler.properties.clientId

@description('Principal ID of KEDA\'s identity.')
output scalerPrincipalId string = scaler.properties.principalId
