// A region's monitoring: its Log Analytics workspace and the Application Insights component
// the function apps send telemetry to (stored in that workspace, Entra ID ingestion only).

param workspaceName string

param appInsightsName string

param location string

param tags object = {}

@description('Tags of the workspace: the same in both regions\' deployments, which both declare it.')
param workspaceTags object = {}

module workspace 'workspace.bicep' = {
  name: 'workspace-${workspaceName}'
  params: {
    name: workspaceName
    location: location
    tags: workspaceTags
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.outputs.id
    DisableLocalAuth: true
    IngestionMode: 'LogAnalytics'
    publicNetworkAccessForIngestion: 'Enabled'
    publicNetworkAccessForQuery: 'Enabled'
  }
}

output workspaceId string = workspace.outputs.id
output appInsightsName string = appInsights.name
