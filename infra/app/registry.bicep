// The registry of the container option's image (hostingPlan = 'containerapp' in main.bicep). azd pushes to it
// with the signed-in user's Entra token; the app pulls with its identity, which gets only the roles in
// roleNames here. No admin user and no anonymous pull: nothing reaches the registry with a password.
param name string
param location string
param tags object

@description('The app identity; it gets only the roles listed in roleNames on this registry.')
param principalId string
param roleNames array

var builtInRoleIds = loadJsonContent('builtin-roles.json')

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Basic'
  }
  properties: {
    adminUserEnabled: false
    anonymousPullEnabled: false
  }
}

resource registryRoleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleName in roleNames: {
    name: guid(registry.id, principalId, builtInRoleIds[roleName])
    scope: registry
    properties: {
      principalId: principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoleIds[roleName])
    }
  }
]

output name string = registry.name
output loginServer string = registry.properties.loginServer
