import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';

export default defineConfig({
  plugins: [
    svelte(),
    VitePWA({
      // 'prompt': a new service worker waits for the user; the tab never reloads by itself.
      registerType: 'prompt',
      injectRegister: false,
      includeAssets: ['favicon.svg', 'icons/*.png'],
      manifest: {
        name: 'WOS — World Operating System',
        short_name: 'WOS',
        description: 'Every open tab becomes a node of your mesh: compute, storage and sharing.',
        theme_color: '#2454d6',
        background_color: '#111318',
        display: 'standalone',
        start_url: '/',
        icons: [
          { src: '/icons/icon-192.png', sizes: '192x192', type: 'image/png' },
          { src: '/icons/icon-512.png', sizes: '512x512', type: 'image/png' },
          {
            src: '/icons/icon-maskable-512.png',
            sizes: '512x512',
            type: 'image/png',
            purpose: 'maskable',
          },
        ],
      },
      workbox: {
        globPatterns: ['**/*.{js,css,html,svg,png,webmanifest}'],
        navigateFallback: '/index.html',
        // API, signaling and metrics always go to the network.
        navigateFallbackDenylist: [/^\/(api|peerjs|config|healthz|metrics)/],
      },
    }),
  ],
  build: {
    target: 'es2022',
    sourcemap: true,
    // Error classes keep their names (`e.name === 'QuotaFullError'`) in the minified build.
    rolldownOptions: {
      output: {
        minify: {
          compress: { keepNames: { function: false, class: true } },
          mangle: { keepNames: { function: false, class: true } },
        },
      },
    },
  },
  server: {
    proxy: {
      '/api': 'http://localhost:8080',
      '/config': 'http://localhost:8080',
      '/peerjs': { target: 'ws://localhost:8080', ws: true },
    },
  },
});
