// One role on one blob container of a storage account in this resource group: how a watcher
// other than the region's own gets the state container, and nothing else of the account.

param accountName string

param container string

@description('The identity\'s principal (object) id.')
param principalId string

@description('A built-in role definition\'s GUID.')
param roleId string

param why string

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: accountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: account
  name: 'default'
}

resource blobContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: container
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, container, principalId, roleId)
  scope: blobContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: why
  }
}
