// One function app of the bundle: a Flex Consumption plan and a custom-handler app on it, run
// as its user-assigned identity, with identity-based host storage, its package in a blob
// container, and its logs sent to every workspace given.

param name string

param location string

param tags object = {}

@description('Name of the app\'s user-assigned identity (in this resource group).')
param identityName string

@description('Name of the app\'s own host storage account (in this resource group).')
param storageAccountName string

@description('Blob container of that account that holds the deployed package.')
param deploymentContainer string

@description('Name of the region\'s Application Insights component (in this resource group).')
param appInsightsName string

@description('Log Analytics workspaces that receive the app\'s FunctionAppLogs.')
param workspaceIds array

@description('The settings the handler reads, by name. Secure: some values are keys.')
@secure()
param appSettings object

@description('Instance memory: the handlers are small static binaries.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 512

param maximumInstanceCount int = 40

@description('Spread the app\'s instances over the region\'s availability zones, so a zone outage in the primary does not look like a region outage (the platform then keeps two instances ready).')
param zoneRedundant bool = true

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: identityName
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${name}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
    zoneRedundant: zoneRedundant
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      // The whole set, replaced on every deployment: a setting removed here goes in Azure too.
      appSettings: concat(hostSettings, handlerSettings)
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainer}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'custom'
        version: '1.0'
      }
    }
  }
}

// What the Functions host itself needs, for every app: host storage through the identity
// (timers keep their leases and schedule there), telemetry through the identity, and the
// identity's client id for the handler's own token requests.
var hostSettings = [
  {
    name: 'AzureWebJobsStorage__accountName'
    value: storage.name
  }
  {
    name: 'AzureWebJobsStorage__credential'
    value: 'managedidentity'
  }
  {
    name: 'AzureWebJobsStorage__clientId'
    value: identity.properties.clientId
  }
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: appInsights.properties.ConnectionString
  }
  {
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
    value: 'ClientId=${identity.properties.clientId};Authorization=AAD'
  }
  {
    name: 'AZURE_CLIENT_ID'
    value: identity.properties.clientId
  }
]

var handlerSettings = [for setting in items(appSettings): {
  name: setting.key
  value: setting.value
}]

// Deployment goes through the blob container with the identity: no publishing passwords.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

// Application Insights takes only Entra ID-authenticated telemetry (local auth is off).
resource telemetryPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, identity.id, monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    description: 'Send ${name} telemetry to Application Insights'
  }
}

var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

resource logs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = [for workspaceId in workspaceIds: {
  name: 'bcdr-to-${last(split(workspaceId, '/'))}'
  scope: site
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'FunctionAppLogs'
        enabled: true
      }
    ]
  }
}]

output id string = site.id
output name string = site.name
output hostName string = site.properties.defaultHostName
