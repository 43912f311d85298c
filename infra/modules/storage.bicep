// A storage account reached only with Entra ID tokens (no shared keys), its blob containers,
// and the data-plane roles that identities hold on the account or on one container.

@description('Storage account name: 3-24 lowercase letters and digits, unique in Azure.')
param name string

param location string

param tags object = {}

@description('Blob containers to create.')
param containers array

@description('Roles on the whole account: [{ principalId, roleId, why }].')
param accountRoles array = []

@description('Roles on one container only: [{ principalId, roleId, container, why }].')
param containerRoles array = []

@description('Days a deleted blob or container can still be restored.')
param softDeleteDays int = 7

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_ZRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    publicNetworkAccess: 'Enabled'
    supportsHttpsTrafficOnly: true
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
  }
}

resource blobContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for container in containers: {
  parent: blobService
  name: container
  properties: {
    publicAccess: 'None'
  }
}]

resource accountRoleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in accountRoles: {
  name: guid(account.id, role.principalId, role.roleId)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.roleId)
    principalId: role.principalId
    principalType: 'ServicePrincipal'
    description: role.why
  }
}]

resource grantedContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = [for role in containerRoles: {
  parent: blobService
  name: role.container
}]

resource containerRoleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (role, i) in containerRoles: {
  name: guid(account.id, role.container, role.principalId, role.roleId)
  scope: grantedContainers[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.roleId)
    principalId: role.principalId
    principalType: 'ServicePrincipal'
    description: role.why
  }
  dependsOn: [
    blobContainers
  ]
}]

output id string = account.id
output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
