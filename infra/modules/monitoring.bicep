// Monitoring: one Log Analytics workspace and a workspace-based Application Insights
// component that both function apps send their telemetry to, so a request that enters the API
// app and continues in the jobs app is one end-to-end transaction in the same place.
//
// Local authentication (the instrumentation key alone) is disabled on the component: the apps
// send telemetry with their managed identities (APPLICATIONINSIGHTS_AUTHENTICATION_STRING =
// Authorization=AAD) and need the Monitoring Metrics Publisher role on it (roles.bicep).

@description('Azure region of the workspace and the Application Insights component.')
param location string

@description('Tags applied to both resources.')
param tags object

@description('Name of the Log Analytics workspace (4-63 letters, digits and hyphens).')
@minLength(4)
@maxLength(63)
param workspaceName string

@description('Name of the Application Insights component.')
param appInsightsName string

@description('Days the workspace keeps data. 30 is included in the Log Analytics price; longer costs extra.')
@minValue(30)
@maxValue(730)
param retentionInDays int = 30

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: workspaceName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      // Access to an app's logs follows access to the app (resource-context RBAC), not only to
      // the whole workspace.
      enableLogAccessUsingOnlyResourcePermissions: true
    }
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    // Workspace-based: the data lives in the workspace above (classic components are retired).
    WorkspaceResourceId: workspace.id
    IngestionMode: 'LogAnalytics'
    // Telemetry only from Microsoft Entra-authenticated senders (the apps' identities).
    DisableLocalAuth: true
  }
}

// The workspace's own audit logs (queries run against it) go to itself.
resource workspaceDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: workspace
  properties: {
    workspaceId: workspace.id
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

@description('Name of the Application Insights component; the function apps read its connection string through an existing reference.')
output appInsightsName string = appInsights.name

@description('Resource ID of the Application Insights component (the scope of the Monitoring Metrics Publisher role).')
output appInsightsId string = appInsights.id

@description('Resource ID of the Log Analytics workspace.')
output workspaceId string = workspace.id

@description('Connection string of the Application Insights component (not a secret on its own: local authentication is off, so senders also need an Entra token).')
output connectionString string = appInsights.properties.ConnectionString
