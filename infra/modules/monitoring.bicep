// Monitoring: one Log Analytics workspace and a workspace-based Application Insights
// component that both function apps send their telemetry to, so a request that enters the API
// app and continues in the jobs app is one end-to-end transaction in the same place.

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
  }
}

@description('Name of the Application Insights component; the function apps read its connection string through an existing reference, so no secret passes through outputs.')
output appInsightsName string = appInsights.name

@description('Resource ID of the Log Analytics workspace.')
output workspaceId string = workspace.id
