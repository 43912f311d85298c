// Sends one Logic App's WorkflowRuntime logs to every workspace given. Deployed into the Logic
// App's own resource group. A Consumption Logic App is a Microsoft.Logic/workflows resource; a
// Standard one is a Microsoft.Web/sites resource with the same log category.

@allowed([
  'logicApp'
  'logicAppStandard'
])
param kind string

@description('The Logic App\'s name in this resource group.')
param name string

param workspaceIds array

resource workflow 'Microsoft.Logic/workflows@2019-05-01' existing = {
  name: name
}

resource standard 'Microsoft.Web/sites@2024-04-01' existing = {
  name: name
}

resource workflowLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = [for workspaceId in workspaceIds: if (kind == 'logicApp') {
  name: 'bcdr-to-${last(split(workspaceId, '/'))}'
  scope: workflow
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'WorkflowRuntime'
        enabled: true
      }
    ]
  }
}]

resource standardLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = [for workspaceId in workspaceIds: if (kind == 'logicAppStandard') {
  name: 'bcdr-to-${last(split(workspaceId, '/'))}'
  scope: standard
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'WorkflowRuntime'
        enabled: true
      }
    ]
  }
}]
