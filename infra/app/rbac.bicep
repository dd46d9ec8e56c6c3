// Role assignments for the app identity, one loop per scope, over the role names main.bicep passes
// (the same names as azureResourceContract.roles in src/config.ts; test/unit/infra checks both).
param principalId string
param storageAccountName string
param storageRoles array
param serviceBusNamespaceName string
param serviceBusRoles array
param applicationInsightsName string
param applicationInsightsRoles array

@description('Optional: the person running azd, given blob data access to upload inputs and read logs.')
param userPrincipalId string = ''

var builtInRoleIds = loadJsonContent('builtin-roles.json')

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource serviceBusNamespace 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusNamespaceName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource storageRoleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleName in storageRoles: {
    name: guid(storageAccount.id, principalId, builtInRoleIds[roleName])
    scope: storageAccount
    properties: {
      principalId: principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoleIds[roleName])
    }
  }
]

resource serviceBusRoleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleName in serviceBusRoles: {
    name: guid(serviceBusNamespace.id, principalId, builtInRoleIds[roleName])
    scope: serviceBusNamespace
    properties: {
      principalId: principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoleIds[roleName])
    }
  }
]

resource applicationInsightsRoleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleName in applicationInsightsRoles: {
    name: guid(applicationInsights.id, principalId, builtInRoleIds[roleName])
    scope: applicationInsights
    properties: {
      principalId: principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoleIds[roleName])
    }
  }
]

resource userBlobAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId)) {
  name: guid(storageAccount.id, userPrincipalId, builtInRoleIds['Storage Blob Data Contributor'])
  scope: storageAccount
  properties: {
    principalId: userPrincipalId
    principalType: 'User'
    roleDefinitionId: subscriptionResourceId(
      'Microsoft.Authorization/roleDefinitions',
      builtInRoleIds['Storage Blob Data Contributor']
    )
  }
}
