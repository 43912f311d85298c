// A region's Log Analytics workspace. Both regions' deployments declare both workspaces (the
// same definition), so either region can be deployed first and each app's logs can go to both.

param name string

param location string

param tags object = {}

@description('Days logs are kept in the workspace.')
param retentionInDays int = 90

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      enableLogAccessUsingOnlyResourcePermissions: true
    }
  }
}

output id string = workspace.id
output name string = workspace.name
