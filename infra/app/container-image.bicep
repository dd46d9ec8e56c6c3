// The image the container app runs now, read before containerapp.bicep redeploys the app: `azd deploy` sets
// the image, and a later `azd provision` must keep it instead of going back to the placeholder. A module of
// its own, because a template cannot read the current state of a resource it also deploys.
param name string

@description('Whether the container app exists yet (azd sets SERVICE_API_RESOURCE_EXISTS).')
param exists bool

resource existingApp 'Microsoft.App/containerApps@2024-10-02-preview' existing = if (exists) {
  name: name
}

output image string = exists ? existingApp!.properties.template.containers[0].image : ''
