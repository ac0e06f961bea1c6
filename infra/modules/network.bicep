// The private-networking option (main.bicep privateNetworking = true): a VNet with one subnet
// per app for VNet integration and one for private endpoints; private endpoints for the shared
// storage account's blob, queue and table services, the vault account's queue and table
// services, the Service Bus namespace and the Key Vault; the private DNS zones that make the
// public host names resolve to those endpoints inside the VNet. The storage accounts, the
// namespace and the Key Vault turn public network access off in that case.
//
// Flex Consumption needs a subnet delegated to Microsoft.App/environments, a Dedicated plan one
// delegated to Microsoft.Web/serverFarms, and one plan per integration subnet: hence two.

@description('Name of the virtual network.')
param name string

@description('Azure region of the network and the private endpoints.')
param location string

@description('Tags applied to every resource here.')
param tags object

@description('Address space of the VNet.')
param addressPrefix string = '10.40.0.0/16'

@description('Subnet of the API app\'s VNet integration (within addressPrefix; /28 or larger, /24 leaves room to scale).')
param apiSubnetPrefix string = '10.40.0.0/24'

@description('Subnet of the jobs app\'s VNet integration (within addressPrefix).')
param jobsSubnetPrefix string = '10.40.1.0/24'

@description('Subnet of the private endpoints (within addressPrefix).')
param privateEndpointSubnetPrefix string = '10.40.2.0/24'

@description('Resource ID of the storage account to reach privately.')
param storageAccountId string

@description('Resource ID of the vault storage account (SensitiveStorage) to reach privately.')
param vaultStorageAccountId string

@description('Resource ID of the Service Bus namespace (Premium) to reach privately.')
param serviceBusNamespaceId string

@description('Resource ID of the Key Vault to reach privately (the apps resolve Key Vault references through the VNet).')
param keyVaultId string

@description('Resource ID of the Log Analytics workspace that receives the diagnostic settings.')
param workspaceId string

// Service Bus and Key Vault have no private-link entry in environment().suffixes: these are
// the public cloud's zones.
var blobZone = 'privatelink.blob.${environment().suffixes.storage}'
var queueZone = 'privatelink.queue.${environment().suffixes.storage}'
var tableZone = 'privatelink.table.${environment().suffixes.storage}'
var serviceBusZone = 'privatelink.servicebus.windows.net'
var keyVaultZone = 'privatelink.vaultcore.azure.net'
var zoneNames = [
  blobZone
  queueZone
  tableZone
  serviceBusZone
  keyVaultZone
]

// One private endpoint per service the apps use (no file endpoint: no content share exists;
// no blob endpoint on the vault account: nothing there uses blobs). Both storage accounts'
// endpoints register in the same zones.
var endpoints = [
  {
    name: 'pe-st-blob'
    target: storageAccountId
    group: 'blob'
    zone: blobZone
  }
  {
    name: 'pe-st-queue'
    target: storageAccountId
    group: 'queue'
    zone: queueZone
  }
  {
    name: 'pe-st-table'
    target: storageAccountId
    group: 'table'
    zone: tableZone
  }
  {
    name: 'pe-vault-queue'
    target: vaultStorageAccountId
    group: 'queue'
    zone: queueZone
  }
  {
    name: 'pe-vault-table'
    target: vaultStorageAccountId
    group: 'table'
    zone: tableZone
  }
  {
    name: 'pe-sb-namespace'
    target: serviceBusNamespaceId
    group: 'namespace'
    zone: serviceBusZone
  }
  {
    name: 'pe-kv-vault'
    target: keyVaultId
    group: 'vault'
    zone: keyVaultZone
  }
]

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: 'snet-api'
        properties: {
          addressPrefix: apiSubnetPrefix
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: 'snet-jobs'
        properties: {
          addressPrefix: jobsSubnetPrefix
          delegations: [
            {
              name: 'app-service-plan'
              properties: {
                serviceName: 'Microsoft.Web/serverFarms'
              }
            }
          ]
        }
      }
      {
        name: 'snet-private-endpoints'
        properties: {
          addressPrefix: privateEndpointSubnetPrefix
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }
}

resource zones 'Microsoft.Network/privateDnsZones@2024-06-01' = [for zone in zoneNames: {
  name: zone
  location: 'global'
  tags: tags
}]

resource zoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [for (zone, i) in zoneNames: {
  parent: zones[i]
  name: 'link-${name}'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnet.id
    }
  }
}]

resource privateEndpoints 'Microsoft.Network/privateEndpoints@2024-05-01' = [for endpoint in endpoints: {
  name: endpoint.name
  location: location
  tags: tags
  properties: {
    subnet: {
      id: '${vnet.id}/subnets/snet-private-endpoints'
    }
    privateLinkServiceConnections: [
      {
        name: endpoint.name
        properties: {
          privateLinkServiceId: endpoint.target
          groupIds: [
            endpoint.group
          ]
        }
      }
    ]
  }
}]

resource zoneGroups 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = [for (endpoint, i) in endpoints: {
  parent: privateEndpoints[i]
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: replace(endpoint.zone, '.', '-')
        properties: {
          privateDnsZoneId: zones[indexOf(zoneNames, endpoint.zone)].id
        }
      }
    ]
  }
}]

resource vnetDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: vnet
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

resource endpointDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = [for (endpoint, i) in endpoints: {
  name: 'to-log-analytics'
  scope: privateEndpoints[i]
  properties: {
    workspaceId: workspaceId
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}]

@description('Subnet for the API app\'s VNet integration (delegated to Microsoft.App/environments).')
output apiSubnetId string = '${vnet.id}/subnets/snet-api'

@description('Subnet for the jobs app\'s VNet integration (delegated to Microsoft.Web/serverFarms).')
output jobsSubnetId string = '${vnet.id}/subnets/snet-jobs'

@description('Resource ID of the virtual network.')
output id string = vnet.id
